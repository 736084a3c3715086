"""The diffusers backend on a tiny randomly initialised Stable Diffusion pipeline built offline from configs.

Slow (importing diffusers and transformers alone takes 10-40 s on 2 busy cores): run with ``-m slow``.
"""

import json

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory):
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder = tmp_path_factory.mktemp("tiny-pipeline")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for code in range(33, 127):
        vocab.setdefault(chr(code), len(vocab))
        vocab.setdefault(chr(code) + "</w>", len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    torch.manual_seed(0)
    pipeline = StableDiffusionPipeline(
        vae=AutoencoderKL(block_out_channels=(8,), down_block_types=("DownEncoderBlock2D",),
                          up_block_types=("UpDecoderBlock2D",), latent_channels=4, norm_num_groups=4, sample_size=16),
        text_encoder=CLIPTextModel(CLIPTextConfig(hidden_size=16, intermediate_size=32, num_attention_heads=2,
                                                  num_hidden_layers=1, vocab_size=len(vocab), projection_dim=16,
                                                  bos_token_id=0, eos_token_id=1, pad_token_id=1)),
        tokenizer=CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77),
        unet=UNet2DConditionModel(sample_size=8, block_out_channels=(8, 16), layers_per_block=1,
                                  down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                  up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
                                  norm_num_groups=4, attention_head_dim=2),
        scheduler=DDIMScheduler(), safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipeline.save_pretrained(folder / "pipeline")
    return folder / "pipeline"


def test_local_pipeline_is_seeded_and_feeds_the_post_processing(tiny_pipeline, tiny_fer2013, tmp_path, monkeypatch):
    from openfer.curate.generate import DiffusersBackend, generate_balanced

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    backend = DiffusersBackend(tiny_pipeline, steps=2, size=16)
    first = backend("a happy man", "cartoon", 0)
    assert first.shape == (16, 16, 3) and first.dtype == np.uint8
    assert np.array_equal(first, backend("a happy man", "cartoon", 0))
    assert not np.array_equal(first, backend("a happy man", "cartoon", 200))
    counts = generate_balanced("fer2013", tiny_fer2013, tmp_path / "g.h5", backend, splits=["PrivateTest"], max_attempts=1)
    # Random weights draw no faces: every try is recorded and dropped, the split keeps its own images.
    assert sum(counts["PrivateTest"]["tried"].values()) == 5 and sum(counts["PrivateTest"]["generated"].values()) == 0
    record = json.loads((tmp_path / "g.provenance.json").read_text())
    assert record["parameters"]["backend"]["class"] == "StableDiffusionPipeline"
