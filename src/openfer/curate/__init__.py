"""Dataset curation (FER2013 ensembles report, Sections 3.3 and 6): balance plans, face filtering and eye
alignment, HDF5 export, and generative balancing. Every step writes a new dataset with its provenance and
only reads the source."""

from openfer.curate.balance import BalancePlan, balance_plan
from openfer.curate.filter import curate_faces, filter_dataset
from openfer.curate.hdf5 import export_hdf5, write_hdf5

__all__ = ["BalancePlan", "balance_plan", "curate_faces", "export_hdf5", "filter_dataset", "write_hdf5"]
