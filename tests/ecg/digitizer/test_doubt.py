"""The doubt score: zero for consistent, well-traced leads on a found grid; high when they are not."""

from __future__ import annotations

import numpy as np

from pipeline.ecg.digitizer.doubt import calibration_doubt, doubt_score, einthoven_residual, relation_residual
from pipeline.ecg.layout import LEADS, lead_window, n_samples

FS = 250


def _consistent_leads(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Limb leads obeying Einthoven exactly (from two random 'dipole' components), precordials random."""
    t = np.arange(FS * 10) / FS
    x = np.sin(2 * np.pi * 1.2 * t) + 0.1 * rng.normal(size=len(t))
    y = np.cos(2 * np.pi * 0.7 * t)
    full = {"I": x, "II": 0.5 * x + y, "III": -0.5 * x + y}
    full["aVR"] = -(full["I"] + full["II"]) / 2
    full["aVL"] = full["I"] - full["II"] / 2
    full["aVF"] = full["II"] - full["I"] / 2
    out = {}
    for lead in LEADS:
        a, b = lead_window(FS, lead)
        out[lead] = full[lead][a:b] + 0.3 if lead in full else rng.normal(size=n_samples(FS, lead))
    out["II"] = full["II"]
    out["II_short"] = full["II"][: lead_window(FS, "I")[1]]
    return out


def test_relation_residual() -> None:
    a = np.sin(np.linspace(0, 6, 200))
    assert relation_residual([a, a + 2.0], [1, -1]) < 1e-9  # offsets do not count
    assert relation_residual([a, np.cos(np.linspace(0, 6, 200))], [1, -1]) > 0.3
    assert relation_residual([a, None], [1, -1]) is None and relation_residual([a, a[:5]], [1, -1]) is None


def test_einthoven_residual_grows_when_a_limb_lead_is_misread() -> None:
    leads = _consistent_leads(np.random.default_rng(0))
    assert einthoven_residual(leads, FS) < 1e-6
    leads["III"] = -leads["III"]  # misread upside down
    assert einthoven_residual(leads, FS) > 0.1


def test_calibration_doubt() -> None:
    assert calibration_doubt(False, [7.8, 7.8]) == 1.0
    assert calibration_doubt(True, [7.874, 7.874]) == 0.0
    assert 0.45 < calibration_doubt(True, [7.874 * 1.05, 7.874]) < 0.55


def test_doubt_score_orders_a_good_and_a_bad_reading() -> None:
    leads = _consistent_leads(np.random.default_rng(1))
    good, parts = doubt_score(leads, {k: 1.0 for k in leads}, [1.0] * 4, True, [7.87, 7.87], FS)
    assert good < 1e-6 and set(parts) == {"einthoven", "ink", "coverage", "calibration"}
    leads["I"] = leads["I"][::-1].copy()
    bad, _ = doubt_score(leads, {k: 0.5 for k in leads}, [0.6] * 4, False, [], FS)
    assert bad > 0.4
