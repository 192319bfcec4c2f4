import numpy as np
import pytest

from pipeline.cells.circles.dataset import annotation_areas
from pipeline.cells.circles.generate import (
    PALETTE,
    CircleConfig,
    area_margin,
    generate_sample,
    sample_layout,
    to_annotation,
)
from pipeline.core.errors import PipelineError
from pipeline.core.seeding import rng_for


def test_same_seed_and_index_give_the_same_image() -> None:
    cfg = CircleConfig()
    a, b = generate_sample(cfg, 7, 3), generate_sample(cfg, 7, 3)
    np.testing.assert_array_equal(a.rgb, b.rgb)
    assert a.layout.circles == b.layout.circles
    assert not np.array_equal(a.rgb, generate_sample(cfg, 7, 4).rgb)
    assert not np.array_equal(a.rgb, generate_sample(cfg, 8, 3).rgb)
    assert a.rgb.shape == (256, 256, 3) and a.rgb.dtype == np.uint8


def test_label_is_the_colour_with_the_largest_visible_area_and_never_a_tie() -> None:
    cfg = CircleConfig(max_overlap=3)  # heavy occlusion, so visible area differs from disc area
    for i in range(60):
        s = generate_sample(cfg, 0, i)
        ann = to_annotation(s, cfg.size)
        # recomputed independently from the written annotation (file order = drawing order)
        areas = annotation_areas(ann, cfg.colours)
        assert areas == s.layout.areas
        ranked = sorted(areas.values(), reverse=True) + [0]
        assert ranked[0] > ranked[1]
        assert s.layout.label == max(areas, key=areas.get)
        disc_areas = {c: 0 for c in cfg.colours}
        for label in ann.labels:
            disc_areas[label.name] += int((label.runs[:, 2] - label.runs[:, 1] + 1).sum())
        assert all(disc_areas[c] >= areas[c] for c in cfg.colours)


def test_min_margin_is_respected() -> None:
    cfg = CircleConfig(min_margin=0.3)
    margins = [sample_layout(rng_for(1, i), cfg).margin for i in range(40)]
    assert min(margins) >= 0.3


def test_controls_are_respected() -> None:
    cfg = CircleConfig(radius_range=(10, 12), count_range=(2, 3), colours=("Cyan", "Magenta"), max_overlap=0,
                       max_tries=200)
    for i in range(30):
        layout = sample_layout(rng_for(2, i), cfg)
        assert 1 <= len(layout.circles) <= 3
        for c in layout.circles:
            assert 10 <= c.r <= 12 and c.colour in cfg.colours and 0.65 <= c.alpha <= 0.85
        # max_overlap 0: the discs are disjoint, so no pixel belongs to two circles
        top = np.zeros((256, 256), int)
        for (y0, y1, x0, x1), m in zip(layout.boxes, layout.masks):
            top[y0:y1, x0:x1] += m
        assert top.max() == 1


def test_colour_and_alpha_blend_towards_the_palette() -> None:
    cfg = CircleConfig(colours=("Red",), colour_noise=0.0, alpha_noise=0.0, alpha_range=(1.0, 1.0))
    s = generate_sample(cfg, 0, 0)
    ann = to_annotation(s, cfg.size)
    inside = np.zeros((256, 256), bool)
    for m in ann.masks():
        inside |= m
    assert (s.rgb[inside] == PALETTE["Red"]).all()


def test_position_outside_the_image_still_gives_visible_circles() -> None:
    cfg = CircleConfig(position=(-0.5, 1.5))
    for i in range(20):
        s = generate_sample(cfg, 3, i)
        assert all(len(label.runs) > 0 for label in to_annotation(s, cfg.size).labels)


def test_area_margin() -> None:
    assert area_margin([10, 10, 3]) == 0.0
    assert area_margin([0, 8, 0]) == 1.0
    assert area_margin([6, 8]) == pytest.approx(0.25)


@pytest.mark.parametrize("changes", [
    {"colours": ("Purple",)}, {"alpha_range": (0.9, 0.1)}, {"radius_range": (0, 3)}, {"count_range": (0, 2)},
    {"background": "photo"}, {"background": "nope"}, {"min_margin": 1.0}, {"max_tries": 0},
])
def test_bad_settings_are_one_clear_error(changes: dict) -> None:
    with pytest.raises(PipelineError, match="bad circle generator settings"):
        CircleConfig(**changes)


def test_config_round_trips_through_a_dict() -> None:
    cfg = CircleConfig(radius_range=(5.0, 9.0), colours=("Red", "Blue"))
    import json

    assert CircleConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
