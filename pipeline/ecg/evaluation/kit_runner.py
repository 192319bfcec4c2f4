"""Runs ecg-image-kit's single-file generator with seeded generators. Runs under the KIT's interpreter.

Not part of the pipeline's import graph: `kit_pages.py` executes this file with the interpreter that has the
kit's dependencies (numpy<2, imgaug, ...), which the project's venv must not get. So it imports nothing from
`pipeline`, only the standard library and what the kit itself needs.

    python kit_runner.py KITDIR SEED RESULT_JSON [--points PAGE_JSON] -- <kit arguments>

* stubs the module HandwrittenText.generate (it imports tensorflow/spacy and is used only with --hw_text,
  which kit_pages does not pass), so that no kit file is edited;
* seeds python `random`, `numpy.random` and `imgaug` with SEED right before the kit's run_single_file()
  (the kit's own --seed is not applied in single-file mode: `hasattr(args, 'st')` is False there);
* records the rotation and crop fraction the kit draws in get_augment, by drawing the same two python-random
  numbers on a saved copy of the state and restoring it, so the kit's own draws are unchanged;
* with --points and an augmented page: applies the same geometric steps as the kit's augmentation
  (imgaug Affine rotation about the centre, then Crop with resize back) to PAGE_JSON's plotted_pixels,
  which the kit leaves unrotated and uncropped;
* writes RESULT_JSON: {"pages": n, "drawn_augment": {...} or null, "corrected_pixels": [per lead] or null}.

Nothing about how the kit draws a page is changed.
"""

import json
import os
import random
import sys
import types


def _stub_handwriting() -> None:
    stub = types.ModuleType("HandwrittenText.generate")

    def get_handwritten(*args, **kwargs):
        raise RuntimeError("--hw_text is not supported by kit_runner (tensorflow/spacy are not installed)")

    stub.get_handwritten = get_handwritten
    sys.modules["HandwrittenText.generate"] = stub


def corrected_pixels(leads, rotate_deg, crop_fraction, height, width):
    """plotted_pixels ([y, x], continuous pixel coordinates, also imgaug's keypoint convention) of every lead
    after the kit's rotation and crop, rounded to 0.01 px as the kit writes them."""
    import imgaug.augmenters as iaa
    import numpy as np
    from imgaug.augmentables.kps import KeypointsOnImage

    seq = iaa.Sequential([iaa.Affine(rotate=rotate_deg), iaa.Crop(percent=crop_fraction)])
    lengths = [len(lead["plotted_pixels"]) for lead in leads]
    yx = np.concatenate([np.asarray(lead["plotted_pixels"], float).reshape(-1, 2) for lead in leads])
    xy = seq(keypoints=KeypointsOnImage.from_xy_array(yx[:, ::-1], shape=(height, width, 3))).to_xy_array()
    out, k = [], 0
    for n in lengths:
        out.append([[round(float(y), 2), round(float(x), 2)] for x, y in xy[k:k + n]])
        k += n
    return out


def main(argv):
    if "--" not in argv or argv.index("--") < 3:
        sys.exit("usage: kit_runner.py KITDIR SEED RESULT_JSON [--points PAGE_JSON] -- <kit arguments>")
    split = argv.index("--")
    own, kit_argv = argv[:split], argv[split + 1:]
    kitdir, seed, result_path = os.path.abspath(own[0]), int(own[1]), os.path.abspath(own[2])
    points = os.path.abspath(own[4]) if len(own) == 5 and own[3] == "--points" else None
    if len(own) not in (3, 5) or (len(own) == 5 and points is None):
        sys.exit(f"kit_runner.py: unexpected arguments {own[3:]}")
    sys.path.insert(0, kitdir)
    os.chdir(kitdir)  # the kit's own __main__ does this too: Fonts/, config.yaml, ... are relative
    _stub_handwriting()

    import gen_ecg_image_from_data as kit
    import imgaug as ia
    import numpy as np

    drawn = {}
    kit_get_augment = kit.get_augment

    def get_augment_recording(*args, **kwargs):
        state = random.getstate()
        rotate = random.randint(-kwargs["rotate"], kwargs["rotate"])  # get_augment's first two draws
        crop = random.uniform(0, kwargs["crop"])
        random.setstate(state)
        drawn.update(rotate_deg=rotate, crop_fraction=crop, noise_scale=kwargs["noise"],
                     temperature_K=kwargs["temperature"])
        return kit_get_augment(*args, **kwargs)

    kit.get_augment = get_augment_recording
    args = kit.get_parser().parse_args(kit_argv)
    random.seed(seed)
    np.random.seed(seed)
    ia.seed(seed)
    pages = kit.run_single_file(args)

    pixels = None
    if points is not None and drawn:
        from PIL import Image

        with open(points) as f:
            page = json.load(f)
        with Image.open(os.path.splitext(points)[0] + ".png") as image:
            width, height = image.size
        pixels = corrected_pixels(page["leads"], drawn["rotate_deg"], drawn["crop_fraction"], height, width)
    with open(result_path, "w") as f:
        json.dump({"pages": pages, "drawn_augment": drawn or None, "corrected_pixels": pixels}, f)


if __name__ == "__main__":
    main(sys.argv[1:])
