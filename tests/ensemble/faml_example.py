"""The FAML paper's worked Top-Two-Voting example (Table 3; docs/models/faml.md), shared by the ensemble tests.

Logits of six networks for one face, classes in the paper's order AN, DI, FE, HA, NE, SA, SU.
"""

EXAMPLE_LOGITS = [
    [0.295, 0.138, -1.331, 0.917, -1.429, -0.502, -0.712],
    [0.312, 0.058, -1.383, 0.888, -1.426, -0.547, -0.495],
    [0.187, -0.119, -0.835, 1.715, -1.240, -0.118, -1.127],
    [1.518, -0.168, -1.641, 0.489, -1.482, -0.985, -0.491],
    [0.798, -0.210, -1.823, 0.753, -1.308, -0.582, -1.493],
    [0.403, -0.433, -1.392, -0.637, -0.493, -0.131, -1.072],
]
#: T2V scores of the example (alpha 1.9, beta 1.0): AN 8.7, HA 7.7, SA 1.0.
EXAMPLE_T2V = [8.7, 0, 0, 7.7, 0, 1, 0]
