"""Synthetic 10 s 12-lead ECG records with exact limb-lead relations.

neurokit2's ECGSYN model (McSharry et al. 2003) gives the P, Q, R, S, T waves of one heart; each
independent lead (I, II, V1..V6) weights them with its own amplitudes; the other limb leads are derived
from I and II, so that III = II - I, aVR = -(I + II)/2, aVL = I - II/2 and aVF = II - I/2 hold exactly,
as on a real machine.
"""

from __future__ import annotations

import warnings
from math import gcd

import numpy as np
import pandas as pd
from scipy.ndimage import median_filter
from scipy.signal import resample_poly

from pipeline.ecg.layout import DURATION_S, LEADS

SIM_FS = 500
"""Rate neurokit2 simulates at: its cost does not depend on the rate, so one rate, resampled to fs."""
SIM_S = 14.5
"""Simulated length. ECGSYN starts every run at the same phase with a slow start-up transient, and its
ODE spans 16 s whatever the length up to 15 s: a random 10 s piece after 3 s is kept."""

AF_FRACTION = 0.12
"""Share of records with an atrial-fibrillation-like rhythm: irregular RR, no P waves, f-waves."""

# ECGSYN's P, Q, R, S, T wave parameters: angles (degrees), amplitudes, widths (McSharry et al. 2003).
_WAVE_ANGLE = np.array([-70.0, -15.0, 0.0, 15.0, 100.0])
_WAVE_AMP = np.array([1.2, -5.0, 30.0, -7.5, 0.75])
_WAVE_WIDTH = np.array([0.25, 0.1, 0.1, 0.1, 0.4])
_BASIS_GAIN = 1e4
"""ECGSYN's output is rescaled to a fixed range; a large amplitude makes the wave dwarf the model's
fixed respiratory baseline and start-up transient, so the rescaled output is the wave's shape alone."""

# Signed size in mV of the P, Q, R, S, T waves of each independently drawn lead (our own typical adult
# values): tall R in II and V4-V6, deep S in V1-V2, R-wave progression across the chest leads.
_WAVE_MV: dict[str, tuple[float, float, float, float, float]] = {
    "I": (0.08, -0.05, 0.6, -0.1, 0.2),
    "II": (0.15, -0.05, 1.1, -0.2, 0.3),
    "V1": (0.08, -0.01, 0.25, -1.0, -0.05),
    "V2": (0.08, -0.01, 0.5, -1.4, 0.4),
    "V3": (0.08, -0.02, 0.8, -0.9, 0.4),
    "V4": (0.1, -0.05, 1.3, -0.5, 0.35),
    "V5": (0.1, -0.08, 1.2, -0.25, 0.3),
    "V6": (0.1, -0.08, 1.0, -0.1, 0.25),
}


def import_neurokit():
    """neurokit2 takes seconds to import: only when a record is simulated."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import neurokit2

    return neurokit2


def _wave_basis(rng: np.random.Generator, heart_rate: float, hr_std: float) -> np.ndarray:
    """(5, SIM_S * SIM_FS): the P, Q, R, S, T waves of one heart, each alone, peak +1, baseline 0.

    ECGSYN is linear in the wave amplitudes, so every lead is a weighted sum of these five runs; five ODE
    solves instead of one per lead. All runs share one seed, hence the same RR series and wave timing.
    A running median over one beat removes ECGSYN's slow drifts (its start-up transient, and the steps
    left where the RR interval changes inside a wave), which would otherwise differ between leads.
    """
    nk = import_neurokit()
    seed = int(rng.integers(2**31 - 1))
    beat = int(SIM_FS * 60.0 / heart_rate)
    angle = _WAVE_ANGLE + rng.uniform(-5.0, 5.0, 5)
    width = _WAVE_WIDTH * rng.uniform(0.85, 1.25, 5)
    basis = []
    for w in range(5):
        amp = np.zeros(5)
        amp[w] = _WAVE_AMP[w] * _BASIS_GAIN
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            z = nk.ecg_simulate(duration=SIM_S, sampling_rate=SIM_FS, noise=0, heart_rate=heart_rate,
                                heart_rate_std=hr_std, method="ecgsyn", random_state=seed,
                                ti=angle, ai=amp, bi=width)
        z = np.asarray(z, dtype=np.float64)
        z = z - median_filter(z, size=beat | 1, mode="nearest")
        basis.append(z / z[np.argmax(np.abs(z))])
    return np.stack(basis)


def _fibrillation_waves(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Atrial fibrillation's f-waves: a few irregular 4-8 Hz oscillations, tens of uV."""
    t = np.arange(n) / fs
    return sum(rng.uniform(0.01, 0.03) * np.sin(2 * np.pi * rng.uniform(4.0, 8.0) * t + rng.uniform(0, 2 * np.pi))
               for _ in range(3))


def _wander_and_noise(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Baseline wander (two slow sinusoids), white noise and sometimes mains hum, in mV."""
    t = np.arange(n) / fs
    out = rng.normal(0.0, rng.uniform(0.002, 0.008), n)
    for _ in range(2):
        out += rng.uniform(0.0, 0.08) * np.sin(2 * np.pi * rng.uniform(0.05, 0.4) * t + rng.uniform(0, 2 * np.pi))
    if rng.random() < 0.3:
        out += rng.uniform(0.002, 0.01) * np.sin(2 * np.pi * rng.choice([50.0, 60.0]) * t + rng.uniform(0, 2 * np.pi))
    return out


def _rotate_axis(lead_i: np.ndarray, lead_ii: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """Turn the frontal-plane heart vector (seen by I at 0 deg and II at +60 deg) by `degrees`."""
    ex, ey = lead_i, (2.0 * lead_ii - lead_i) / np.sqrt(3.0)
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    ex, ey = c * ex - s * ey, s * ex + c * ey
    return ex, 0.5 * ex + (np.sqrt(3.0) / 2.0) * ey


def simulate_record(fs: int, rng: np.random.Generator) -> pd.DataFrame:
    """A 10 s 12-lead record at fs (fs*10 rows, columns layout.LEADS, mV). Deterministic given rng.

    Varies heart rate (50-120 bpm) and its variability, rhythm (about 1 in 8 records irregular without P
    waves but with f-waves, like atrial fibrillation), wave shapes, electrical axis (+-30 deg), overall and
    per-lead amplitude, baseline wander and noise.
    """
    n = int(round(fs * DURATION_S))
    fibrillation = bool(rng.random() < AF_FRACTION)
    hr_std = rng.uniform(6.0, 10.0) if fibrillation else rng.uniform(0.5, 4.0)
    basis = _wave_basis(rng, float(rng.uniform(50.0, 120.0)), float(hr_std))
    if fibrillation:
        basis[0] = 0.0  # no P waves
    g = gcd(int(fs), SIM_FS)
    offset = int(rng.integers(int(3.0 * fs), int(4.5 * fs)))
    basis = resample_poly(basis, int(fs) // g, SIM_FS // g, axis=1)[:, offset:offset + n]
    scale = rng.uniform(0.7, 1.3)
    leads = {lead: (np.asarray(mv) * rng.uniform(0.6, 1.4, 5) * scale) @ basis for lead, mv in _WAVE_MV.items()}
    lead_i, lead_ii = _rotate_axis(leads["I"], leads["II"], rng.uniform(-30.0, 30.0))
    for lead in _WAVE_MV:
        base = {"I": lead_i, "II": lead_ii}.get(lead, leads[lead])
        leads[lead] = base + _wander_and_noise(n, fs, rng)
        if fibrillation and lead in ("I", "II", "V1", "V2"):
            leads[lead] += _fibrillation_waves(n, fs, rng)
    lead_i, lead_ii = leads["I"], leads["II"]
    leads.update({"III": lead_ii - lead_i, "aVR": -(lead_i + lead_ii) / 2.0,
                  "aVL": lead_i - lead_ii / 2.0, "aVF": lead_ii - lead_i / 2.0})
    return pd.DataFrame({lead: leads[lead] for lead in LEADS})
