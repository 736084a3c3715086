"""Generative balancing (FER2013 ensembles report, Section 6.2): seeded prompts, a local text-to-image
backend, and the report's post-processing (detect the face, crop, grey, resize, drop images with no face).

The prompt follows the report's template; every bracketed element is drawn from a pool for each image with
a generator seeded by that image's seed, and the seed advances by ``seed_step`` (200 in the report) after
every image, so one starting seed fixes every prompt and every image. The pools are ours (the report does
not list its values). Nothing here downloads: :class:`DiffusersBackend` loads a pipeline from a local folder.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np

from openfer import labels as vocab
from openfer.data.base import Dataset, FaceSplit
from openfer.errors import ConfigError, LabelError

TEMPLATE = (
    "{context} image with a {emotion1}, {emotion2}, deeply {emotion3} single {gender} that is {emotion} and has "
    "a detailed {expression}. Person is expressive, {age}, {nationality} and has a {race} genetic. Focus on "
    "eyes, eyebrows, mouth and other facial factors to express the {emotion1}."
)
NEGATIVE_PROMPT = (
    "cartoon, drawing, painting, illustration, 3d render, anime, blurry, out of focus, several people, crowd, "
    "text, watermark, logo, deformed face, disfigured, extra eyes, cropped face, face out of frame, nsfw, nude"
)

#: Per expression (openfer's canonical names): (adjectives for emotion1-3 and the selected emotion, expressions).
EMOTION_POOLS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "anger": (
        ("angry", "furious", "enraged", "irritated", "hostile", "outraged"),
        ("frown with lowered, drawn-together eyebrows", "glare with tightened lips", "snarl showing clenched teeth",
         "scowl with flared nostrils"),
    ),
    "contempt": (
        ("contemptuous", "scornful", "disdainful", "dismissive"),
        ("one-sided smirk with a raised lip corner", "sneer with a tilted head", "half smile of disdain"),
    ),
    "disgust": (
        ("disgusted", "repulsed", "revolted", "nauseated", "sickened"),
        ("wrinkled nose with a raised upper lip", "grimace of revulsion", "curled upper lip and squinting eyes"),
    ),
    "fear": (
        ("afraid", "frightened", "terrified", "scared", "panicked", "anxious"),
        ("wide-open eyes with raised eyebrows and a stretched mouth", "look of terror with parted lips",
         "tense face with raised, drawn-together eyebrows"),
    ),
    "happiness": (
        ("happy", "joyful", "cheerful", "delighted", "elated", "amused"),
        ("broad smile with raised cheeks", "laugh showing teeth", "grin with crinkled eyes"),
    ),
    "neutral": (
        ("calm", "composed", "neutral", "relaxed", "impassive"),
        ("relaxed face with closed lips", "neutral gaze with level eyebrows", "expressionless face"),
    ),
    "sadness": (
        ("sad", "sorrowful", "unhappy", "grieving", "downcast", "melancholic"),
        ("downturned mouth with raised inner eyebrows", "teary eyes and a trembling lip", "drooping eyelids and a frown"),
    ),
    "surprise": (
        ("surprised", "astonished", "amazed", "startled", "shocked"),
        ("raised eyebrows with wide-open eyes and a dropped jaw", "open mouth in astonishment", "startled wide-eyed look"),
    ),
}
CONTEXTS = ("close-up portrait photo", "studio headshot photo", "candid close-up photo", "frontal face photo",
            "documentary portrait photo", "natural light face photo")
GENDERS = ("man", "woman")
AGES = ("a teenager", "in their twenties", "in their thirties", "middle-aged", "in their sixties", "elderly")
NATIONALITIES = ("Nigerian", "Brazilian", "Chinese", "Indian", "Mexican", "Romanian", "Egyptian", "Japanese",
                 "Irish", "Turkish", "Vietnamese", "Kenyan", "Swedish", "Iranian", "Peruvian", "Filipino")
RACES = ("African", "East Asian", "South Asian", "European", "Middle Eastern", "Latin American", "Southeast Asian")


@dataclass(frozen=True)
class Prompt:
    """One image to generate: its class (the dataset's name), seed, prompt and negative prompt."""

    emotion: str
    seed: int
    prompt: str
    negative_prompt: str = NEGATIVE_PROMPT


@dataclass
class PromptGenerator:
    """The report's dynamic prompt generator: deterministic for ``seed``; the seed advances by ``seed_step``
    after each image, across classes too."""

    seed: int = 0
    seed_step: int = 200
    emotion_pools: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=lambda: EMOTION_POOLS)

    def prompt(self, emotion: str, seed: int) -> Prompt:
        """The prompt for one image of class ``emotion`` (any name openfer resolves by meaning) at ``seed``."""
        try:
            meaning = vocab.canonical(emotion)
        except LabelError:
            raise ConfigError(f"emotion {emotion!r}: not an expression name (try one of {', '.join(vocab.CANONICAL)})") from None
        if meaning not in self.emotion_pools:
            raise ConfigError(f"emotion {emotion!r} ({meaning}): no prompt pool; pools exist for {sorted(self.emotion_pools)}")
        adjectives, expressions = self.emotion_pools[meaning]
        draw = random.Random(seed)
        first, second, third = draw.sample(adjectives, 3)
        text = TEMPLATE.format(
            context=draw.choice(CONTEXTS), emotion1=first, emotion2=second, emotion3=third,
            gender=draw.choice(GENDERS), emotion=draw.choice(adjectives), expression=draw.choice(expressions),
            age=draw.choice(AGES), nationality=draw.choice(NATIONALITIES), race=draw.choice(RACES),
        )
        return Prompt(emotion, seed, text)

    def prompts(self, counts: Mapping[str, int]) -> list[Prompt]:
        """``counts[c]`` prompts for every class ``c`` (in the mapping's order), the seed advancing per image."""
        found, seed = [], self.seed
        for emotion, count in counts.items():
            if count < 0:
                raise ConfigError(f"emotion {emotion!r}: negative image count {count}")
            for _ in range(count):
                found.append(self.prompt(emotion, seed))
                seed += self.seed_step
        return found


class TextToImage(Protocol):
    """A text-to-image backend: any callable returning one RGB uint8 image (H x W x 3) for a prompt and seed."""

    def __call__(self, prompt: str, negative_prompt: str, seed: int) -> np.ndarray: ...


class DiffusersBackend:
    """A diffusers pipeline the user already has in a local folder (``local_files_only``: nothing is downloaded).

    Defaults are the report's: 512 x 512 pixels, 40 inference steps, guidance scale 5.5.
    """

    def __init__(self, folder: str | Path, steps: int = 40, guidance_scale: float = 5.5, size: int = 512,
                 device: str = "cpu", pipeline: Any = None) -> None:
        self.folder, self.steps, self.guidance_scale, self.size, self.device = Path(folder), steps, guidance_scale, size, device
        if pipeline is None:
            if not (self.folder / "model_index.json").is_file():
                raise ConfigError(f"--pipeline {self.folder}: not a diffusers pipeline folder (no model_index.json)")
            try:
                from diffusers import DiffusionPipeline
            except ImportError:
                raise ConfigError("generation needs diffusers: pip install 'openfer[generate]'") from None
            try:
                pipeline = DiffusionPipeline.from_pretrained(str(self.folder), local_files_only=True)
            except (OSError, ValueError) as error:
                raise ConfigError(f"--pipeline {self.folder}: not a loadable diffusers pipeline ({error})") from None
        self.pipeline = pipeline.to(device)
        self.pipeline.set_progress_bar_config(disable=True)

    def describe(self) -> dict[str, Any]:
        return {"backend": "diffusers", "pipeline": str(self.folder.resolve()), "class": type(self.pipeline).__name__,
                "steps": self.steps, "guidance_scale": self.guidance_scale, "size": self.size, "device": self.device}

    def __call__(self, prompt: str, negative_prompt: str, seed: int) -> np.ndarray:
        import torch

        generator = torch.Generator(device=self.device).manual_seed(seed)
        result = self.pipeline(
            prompt=prompt, negative_prompt=negative_prompt, num_inference_steps=self.steps,
            guidance_scale=self.guidance_scale, height=self.size, width=self.size, generator=generator, output_type="np",
        )
        return np.clip(np.round(np.asarray(result.images[0]) * 255.0), 0, 255).astype(np.uint8)


def face_from_generated(image: np.ndarray, detector: Any, size: tuple[int, int], grey: bool = True,
                        margin: float = 0.1) -> np.ndarray | None:
    """The report's post-processing: the best detected face cropped, grey (when ``grey``), resized to ``size``;
    None when no face is found."""
    from openfer.faces import face_crop
    from openfer.imageio import resize, to_channels

    faces = detector.detect(image)
    if not faces:
        return None
    return resize(to_channels(face_crop(image, faces[0], margin=margin), 1 if grey else 3), size)


#: Columns of ``generated.csv``.
GENERATED_COLUMNS = ("split", "image_id", "class", "seed", "kept", "reason", "prompt")


def generate_balanced(
    dataset: str,
    root: str | Path,
    output: str | Path,
    backend: Callable[[str, str, int], np.ndarray],
    splits: Sequence[str] = ("Training",),
    target: int | None = None,
    seed: int = 0,
    seed_step: int = 200,
    detector: Any = "yunet",
    max_attempts: float = 3.0,
    margin: float = 0.1,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> dict[str, dict[str, Any]]:
    """``openfer data generate``: each split in ``splits`` topped up with generated faces to its balance plan
    (largest class, or ``target``); the other splits copied unchanged; written to ``output`` with
    ``provenance.json`` and ``generated.csv`` (every image tried: seed, prompt, kept or why not).

    A class gets at most ``max_attempts`` x its need of tries (images without a face are dropped).
    """
    from openfer.curate.balance import balance_plan
    from openfer.curate.filter import choose_splits
    from openfer.curate.hdf5 import split_images
    from openfer.curate.output import check_destination, describe_source, provenance, write_dataset
    from openfer.data import load_dataset
    from openfer.faces import create_detector

    output = check_destination(output, root)
    source = load_dataset(dataset, root, **options)
    chosen = choose_splits(source, list(splits))
    face_detector = create_detector(detector)
    generator = PromptGenerator(seed, seed_step)
    result: Dataset = dict(source)
    rows: list[tuple[Any, ...]] = []
    counts: dict[str, dict[str, Any]] = {}
    next_seed = generator.seed
    for name in chosen:
        split = source[name]
        plan = balance_plan(split, target)
        size = split.image_size() or (48, 48)
        images, labels, ids = [], [], []
        for class_index, (emotion, needed) in enumerate(zip(split.classes, plan.needed)):
            kept = tried = 0
            while kept < needed and tried < max(1, int(np.ceil(max_attempts * needed))):
                prompt = generator.prompt(emotion, next_seed)
                next_seed += seed_step
                tried += 1
                image_id = f"generated/{name}/{emotion}/{prompt.seed}"
                face = face_from_generated(np.asarray(backend(prompt.prompt, prompt.negative_prompt, prompt.seed)),
                                           face_detector, size, split.grey, margin)
                if face is None:
                    rows.append((name, image_id, emotion, prompt.seed, False, "no face found", prompt.prompt))
                    continue
                kept += 1
                images.append(face)
                labels.append(class_index)
                ids.append(image_id)
                rows.append((name, image_id, emotion, prompt.seed, True, "", prompt.prompt))
            counts.setdefault(name, {"needed": dict(zip(split.classes, plan.needed)), "generated": {}, "tried": {}})
            counts[name]["generated"][emotion], counts[name]["tried"][emotion] = kept, tried
            if progress:
                progress(f"{name}/{emotion}: {kept} of {needed} generated in {tried} tries")
        all_images = np.concatenate([split_images(split), *([np.stack(images)] if images else [])])
        soft = None
        if split.soft_labels is not None:
            soft = np.concatenate([split.soft_labels, np.eye(len(split.classes), dtype=split.soft_labels.dtype)[labels]])
        result[name] = FaceSplit(
            name=name, classes=split.classes, labels=np.concatenate([split.labels, np.asarray(labels, np.int64)]),
            images=all_images, soft_labels=soft, groups=None, grey=split.grey,
            image_ids=[*(split.image_ids or [str(i) for i in range(len(split))]), *ids],
        )
    describe = getattr(backend, "describe", None)
    parameters = {
        "splits_balanced": chosen, "target": target, "seed": seed, "seed_step": seed_step,
        "detector": getattr(face_detector, "name", str(detector)), "max_attempts": max_attempts, "margin": margin,
        "backend": describe() if callable(describe) else repr(backend), "negative_prompt": NEGATIVE_PROMPT,
        "groups": "dropped from balanced splits (generated faces have no subject)", "reader_options": options,
    }
    record = provenance("openfer data generate", describe_source(dataset, root, list(source)), parameters, counts=counts)
    write_dataset(result, output, record, {"generated.csv": (GENERATED_COLUMNS, rows)})
    return counts
