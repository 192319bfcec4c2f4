"""Synthetic 10 s 12-lead records with the variety of real ECGs and exact limb-lead relations.

Each beat is a sum of Gaussian waves (P, Q, R, S, T, and for bundle branch blocks a late R' or a
notch), the same wave model that ECGSYN (McSharry et al. 2003, neurokit2) integrates, written directly
in time so that every beat can be placed and shaped on its own: heart rate 40-180 bpm, sinus rhythm
with respiratory variation or atrial fibrillation (irregular RR, no P, f-waves), premature ventricular
and atrial beats, right and left bundle branch block widths, ST elevation and depression, low and high
voltage, baseline wander, muscle noise and mains hum. Being analytic, the waves are sampled exactly at
any fs, and a record costs milliseconds instead of the second an ODE solve takes.

The independent leads I, II, V1..V6 carry their own wave sizes; III, aVR, aVL and aVF are derived from
I and II after noise is added, so III = II - I, aVR = -(I + II)/2, aVL = I - II/2 and aVF = II - I/2
hold exactly, as on a real machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.ecg.layout import DURATION_S, LEADS

__all__ = ["EcgSpec", "draw_spec", "simulate", "simulate_record", "INDEPENDENT"]

INDEPENDENT: tuple[str, ...] = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
"""Leads with their own waves; the other four limb leads follow from I and II."""
HR_RANGE = (40.0, 180.0)
RHYTHMS = ("sinus", "af")
ECTOPY = ("none", "pvc", "pac")
CONDUCTION = ("normal", "rbbb", "lbbb", "ivcd")
ST_PATTERNS = ("none", "anterior", "inferior", "lateral", "depression")

_PAD_S = 2.0
"""Beats are laid out from -_PAD_S to DURATION_S + _PAD_S so that no wave is cut at the record's ends."""

# Signed size in mV of the P, Q, R, S, T waves of each independent lead (typical adult values): tall R
# in II and V4-V6, deep S in V1-V2, R-wave progression across the chest leads.
_WAVE_MV = np.array([
    # P      Q      R     S      T
    [0.08, -0.05, 0.60, -0.10, 0.20],   # I
    [0.15, -0.05, 1.10, -0.20, 0.30],   # II
    [0.08, -0.01, 0.25, -1.00, -0.05],  # V1
    [0.08, -0.01, 0.50, -1.40, 0.40],   # V2
    [0.08, -0.02, 0.80, -0.90, 0.40],   # V3
    [0.10, -0.05, 1.30, -0.50, 0.35],   # V4
    [0.10, -0.08, 1.20, -0.25, 0.30],   # V5
    [0.10, -0.08, 1.00, -0.10, 0.25],   # V6
])
_CHEST_ANGLE = np.radians([120.0, 95.0, 75.0, 55.0, 30.0, 0.0])
"""Directions of V1..V6 in the horizontal plane (0 = left, 90 = anterior): ectopic beats' dipoles."""
# Late terminal forces of right bundle branch block (R' in V1-V2, slurred S in I, V5, V6), per lead.
_RBBB_LATE = np.array([-0.25, -0.10, 0.70, 0.45, 0.10, -0.10, -0.25, -0.30])
# ST deviation (fraction of the pattern's level) of each independent lead for each ST pattern.
_ST_SHAPE = {
    "none": np.zeros(8),
    "anterior": np.array([0.2, -0.3, 0.6, 1.0, 1.0, 0.7, 0.2, 0.0]),
    "inferior": np.array([-0.4, 1.0, -0.2, -0.3, -0.1, 0.0, 0.2, 0.3]),
    "lateral": np.array([0.8, 0.2, -0.3, -0.2, 0.0, 0.4, 0.9, 1.0]),
    "depression": np.array([-0.5, -0.7, 0.0, -0.2, -0.5, -0.9, -1.0, -0.8]),
}


@dataclass(frozen=True)
class EcgSpec:
    """What one record shows. Times in s, voltages in mV.

    heart_rate: mean ventricular rate (bpm); hr_variability: relative RR spread (sinus: respiratory
    and beat-to-beat; AF: the log-normal sigma of the irregular RR intervals);
    rhythm: "sinus" or "af"; ectopy: "none", "pvc" or "pac", with ectopic_rate the share of beats;
    conduction: "normal", "rbbb", "lbbb" or "ivcd" with qrs_s the QRS duration; pr_s and qtc_s the PR
    interval and rate-corrected QT; st_pattern and st_mv the ST deviation (elevation > 0);
    axis_deg: frontal-plane axis rotation; amplitude: overall gain, chest_gain an extra chest-lead gain
    (high voltage); wander_mv, muscle_mv, noise_mv, hum_mv: sizes of baseline wander, muscle tremor,
    white noise and mains hum.
    """

    heart_rate: float = 70.0
    hr_variability: float = 0.03
    rhythm: str = "sinus"
    ectopy: str = "none"
    ectopic_rate: float = 0.0
    conduction: str = "normal"
    qrs_s: float = 0.09
    pr_s: float = 0.16
    qtc_s: float = 0.41
    st_pattern: str = "none"
    st_mv: float = 0.0
    axis_deg: float = 0.0
    amplitude: float = 1.0
    chest_gain: float = 1.0
    wander_mv: float = 0.05
    muscle_mv: float = 0.0
    noise_mv: float = 0.004
    hum_mv: float = 0.0

    def __post_init__(self) -> None:
        if not HR_RANGE[0] <= self.heart_rate <= HR_RANGE[1]:
            raise ValueError(f"heart_rate {self.heart_rate} outside {HR_RANGE}")
        for name, value, allowed in (("rhythm", self.rhythm, RHYTHMS), ("ectopy", self.ectopy, ECTOPY),
                                     ("conduction", self.conduction, CONDUCTION),
                                     ("st_pattern", self.st_pattern, ST_PATTERNS)):
            if value not in allowed:
                raise ValueError(f"{name} {value!r} not in {allowed}")


def draw_spec(rng: np.random.Generator) -> EcgSpec:
    """A random record description with roughly the mix of a hospital ECG archive."""
    rhythm = "af" if rng.random() < 0.15 else "sinus"
    if rhythm == "af":
        hr = rng.uniform(55.0, 160.0)
    else:
        band = rng.choice(3, p=[0.15, 0.65, 0.2])  # brady, normal, tachy
        hr = (rng.uniform(40.0, 60.0), rng.uniform(60.0, 100.0), rng.uniform(100.0, 180.0))[band]
    ectopy = str(rng.choice(ECTOPY, p=[0.75, 0.15, 0.1]))
    if rhythm == "af" and ectopy == "pac":  # no atrial premature beats without an organised atrium
        ectopy = "none"
    conduction = str(rng.choice(CONDUCTION, p=[0.75, 0.1, 0.08, 0.07]))
    qrs = {"normal": rng.uniform(0.075, 0.11), "rbbb": rng.uniform(0.12, 0.16),
           "lbbb": rng.uniform(0.13, 0.17), "ivcd": rng.uniform(0.11, 0.13)}[conduction]
    st = str(rng.choice(ST_PATTERNS, p=[0.7, 0.08, 0.08, 0.06, 0.08]))
    volt = rng.choice(3, p=[0.12, 0.73, 0.15])  # low, normal, high voltage
    amplitude = (rng.uniform(0.3, 0.6), rng.uniform(0.7, 1.3), rng.uniform(1.3, 1.7))[volt]
    pr = rng.uniform(0.12, 0.22) if rng.random() < 0.9 else rng.uniform(0.22, 0.32)  # 1 in 10: first-degree block
    return EcgSpec(
        heart_rate=float(hr), rhythm=rhythm,
        hr_variability=float(rng.uniform(0.12, 0.3) if rhythm == "af" else rng.uniform(0.005, 0.05)),
        ectopy=ectopy, ectopic_rate=float(rng.uniform(0.05, 0.3)) if ectopy != "none" else 0.0,
        conduction=conduction, qrs_s=float(qrs), pr_s=float(pr),
        qtc_s=float(rng.uniform(0.37, 0.47)), st_pattern=st,
        st_mv=float(rng.uniform(0.08, 0.35)) if st != "none" else 0.0,
        axis_deg=float(rng.uniform(-35.0, 35.0)), amplitude=float(amplitude),
        chest_gain=float(rng.uniform(1.1, 1.4)) if volt == 2 else 1.0,
        wander_mv=float(rng.choice([rng.uniform(0.0, 0.08), rng.uniform(0.08, 0.35)], p=[0.7, 0.3])),
        muscle_mv=float(rng.uniform(0.005, 0.05)) if rng.random() < 0.3 else 0.0,
        noise_mv=float(rng.uniform(0.001, 0.008)),
        hum_mv=float(rng.uniform(0.003, 0.02)) if rng.random() < 0.2 else 0.0,
    )


# ---------------------------------------------------------------- beat timing
@dataclass(frozen=True)
class _Beats:
    """R-peak times (s) and beat kinds (0 normal, 1 premature ventricular, 2 premature atrial)."""

    times: np.ndarray
    kinds: np.ndarray
    rr_before: np.ndarray


def _beat_times(spec: EcgSpec, rng: np.random.Generator) -> _Beats:
    """Lay out beats over the padded record: sinus RR with respiratory sinus arrhythmia and jitter, or
    AF's irregular RR; premature beats come early (ventricular ones with a compensatory pause)."""
    rr = 60.0 / spec.heart_rate
    resp_hz, resp_phase = rng.uniform(0.15, 0.35), rng.uniform(0.0, 2 * np.pi)
    t = -_PAD_S + rng.uniform(0.0, rr)
    times, kinds, before = [], [], []
    pending_pause = 0.0
    bigeminy = spec.ectopy != "none" and rng.random() < 0.2
    while t < DURATION_S + _PAD_S:
        if spec.rhythm == "af":
            sigma = spec.hr_variability  # the log-normal spread of AF's RR intervals
            step = max(rr * rng.lognormal(-0.5 * sigma**2, sigma), 0.28)
        else:
            step = rr * (1.0 + spec.hr_variability * (np.sin(2 * np.pi * resp_hz * t + resp_phase)
                                                      + 0.5 * rng.standard_normal()))
        kind = 0
        if pending_pause:
            step, pending_pause = pending_pause, 0.0
        elif spec.ectopy != "none" and kinds and kinds[-1] == 0:
            ectopic = (len(kinds) % 2 == 1) if bigeminy else rng.random() < spec.ectopic_rate
            if ectopic:
                kind = 1 if spec.ectopy == "pvc" else 2
                early = rng.uniform(0.55, 0.75) if kind == 1 else rng.uniform(0.65, 0.85)
                if kind == 1 and spec.rhythm == "sinus":
                    pending_pause = (2.0 - early) * step  # the sinus node keeps its rhythm
                step *= early
        t += step
        times.append(t)
        kinds.append(kind)
        before.append(step)
    return _Beats(np.array(times), np.array(kinds, dtype=int), np.array(before))


# ---------------------------------------------------------------- waves
def _add_gauss(out: np.ndarray, t: np.ndarray, centre: float, sigma: float, weights: np.ndarray,
               sigma_right: float | None = None) -> None:
    """out[:, lead] += weights[lead] * Gaussian(t; centre, sigma), evaluated within +-5 sigma only;
    sigma_right gives an asymmetric wave (slow rise, faster fall for T)."""
    right = sigma if sigma_right is None else sigma_right
    lo, hi = np.searchsorted(t, [centre - 5 * sigma, centre + 5 * right])
    if hi <= lo:
        return
    x = t[lo:hi] - centre
    s = np.where(x < 0, sigma, right)
    out[lo:hi] += np.exp(-0.5 * (x / s) ** 2)[:, None] * weights[None, :]


def _add_plateau(out: np.ndarray, t: np.ndarray, start: float, stop: float, edge: float,
                 weights: np.ndarray) -> None:
    """out += weights * a smooth box from start to stop (logistic edges of width `edge`): the ST segment."""
    lo, hi = np.searchsorted(t, [start - 8 * edge, stop + 8 * edge])
    if hi <= lo or stop <= start:
        return
    x = t[lo:hi]
    box = 1.0 / (1.0 + np.exp(-(x - start) / edge)) - 1.0 / (1.0 + np.exp(-(x - stop) / edge))
    out[lo:hi] += box[:, None] * weights[None, :]


def _lead_sizes(spec: EcgSpec, rng: np.random.Generator) -> np.ndarray:
    """(8, 5) P, Q, R, S, T sizes of the independent leads: the typical table, varied per record,
    with the frontal axis turned and the overall and chest gains applied."""
    sizes = _WAVE_MV * rng.uniform(0.6, 1.4, _WAVE_MV.shape)
    sizes[:, 4] *= rng.choice([1.0, -0.6], p=[0.92, 0.08])  # sometimes inverted T waves
    a = np.radians(spec.axis_deg)
    c, s = np.cos(a), np.sin(a)
    ex, ey = sizes[0], (2.0 * sizes[1] - sizes[0]) / np.sqrt(3.0)  # frontal heart vector from I, II
    ex, ey = c * ex - s * ey, s * ex + c * ey
    sizes[0], sizes[1] = ex, 0.5 * ex + (np.sqrt(3.0) / 2.0) * ey
    sizes *= spec.amplitude
    sizes[2:] *= spec.chest_gain
    return sizes


def _ectopic_dipole(rng: np.random.Generator, size: float) -> np.ndarray:
    """(8,) lead sizes of a premature ventricular beat: a random dipole projected on I, II (frontal
    plane) and V1..V6 (horizontal plane)."""
    frontal, horizontal = rng.uniform(-np.pi, np.pi), rng.uniform(-np.pi, np.pi)
    limb = size * np.array([np.cos(frontal), np.cos(frontal - np.pi / 3)])
    chest = size * np.cos(horizontal - _CHEST_ANGLE)
    return np.concatenate([limb, chest])


def _waves(spec: EcgSpec, beats: _Beats, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, 8) noise-free independent leads: every beat's waves, shaped by its kind and conduction."""
    out = np.zeros((len(t), len(INDEPENDENT)))
    sizes = _lead_sizes(spec, rng)
    widen = spec.qrs_s / 0.09
    pvc = _ectopic_dipole(rng, rng.uniform(1.0, 2.0) * spec.amplitude)
    pvc_t = -pvc * rng.uniform(0.25, 0.45)
    pac_p = sizes[:, 0] * rng.uniform(-1.0, 0.6)
    st = _ST_SHAPE[spec.st_pattern] * spec.st_mv * np.sign(spec.amplitude)
    late = _RBBB_LATE * spec.amplitude * rng.uniform(0.7, 1.3)
    lbbb = spec.conduction == "lbbb"
    resp, resp_hz = rng.uniform(0.0, 0.08), rng.uniform(0.15, 0.35)
    for r, kind, before in zip(beats.times, beats.kinds, beats.rr_before):
        gain = 1.0 + resp * np.sin(2 * np.pi * resp_hz * r)  # breathing changes the QRS size a little
        qt = min(spec.qtc_s * np.sqrt(before), 0.8 * before + 0.05)
        tsig = 0.045 * np.sqrt(qt / 0.4)
        if kind == 1:  # ventricular: wide, no P, T opposite to the QRS
            w = rng.uniform(0.13, 0.18)
            _add_gauss(out, t, r, w / 5.0, pvc * gain)
            _add_gauss(out, t, r + w / 3.0, w / 6.0, -0.35 * pvc * gain)
            _add_gauss(out, t, r + w / 2.0 + qt * 0.55, tsig * 1.3, pvc_t, tsig)
            continue
        onset = r - 0.5 * spec.qrs_s
        if spec.rhythm == "sinus":
            p = pac_p if kind == 2 else sizes[:, 0]
            _add_gauss(out, t, onset - spec.pr_s + 0.05, 0.022, p)
        q, rw, s, tw = sizes[:, 1] * gain, sizes[:, 2] * gain, sizes[:, 3] * gain, sizes[:, 4]
        if lbbb:  # broad notched R in I, V5, V6; deep broad S in V1-V3; discordant T
            lat = np.array([1, 0.5, 0, 0, 0, 0.6, 1, 1])
            _add_gauss(out, t, r - 0.02 * widen, 0.018 * widen, rw * lat)
            _add_gauss(out, t, r + 0.02 * widen, 0.018 * widen, rw * lat * 0.9)
            _add_gauss(out, t, r + 0.005, 0.016 * widen, (s - 0.3 * rw) * (1 - lat) * 1.1)
            tw = -np.sign(rw * lat + (s - 0.3 * rw) * (1 - lat)) * np.abs(tw)
        else:
            _add_gauss(out, t, r - 0.028 * widen, 0.008 * widen, q)
            _add_gauss(out, t, r, 0.0105 * widen, rw)
            _add_gauss(out, t, r + 0.028 * widen, 0.011 * widen, s)
            if spec.conduction == "rbbb":
                _add_gauss(out, t, r + 0.045 * widen, 0.012 * widen, late * gain)
                tw = tw.copy()
                tw[2:4] = -np.abs(tw[2:4])
        t_peak = onset + qt - 2.0 * tsig
        if spec.st_pattern != "none":
            _add_plateau(out, t, r + 0.5 * spec.qrs_s, t_peak, 0.02, st)
        _add_gauss(out, t, t_peak, tsig * 1.25, tw + 0.6 * st, tsig * 0.8)
    return out


def _fibrillation(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, 8) atrial f-waves: a 4-9 Hz oscillation with drifting frequency and size, larger in V1 and II."""
    freq = rng.uniform(4.0, 9.0) + 0.8 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(freq) * (t[1] - t[0])
    size = rng.uniform(0.02, 0.12) * (1 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t))
    f = size * (np.sin(phase) + 0.3 * np.sin(2 * phase + rng.uniform(0, 6)))
    lead = np.array([0.3, 0.8, 1.0, 0.6, 0.3, 0.2, 0.2, 0.2]) * rng.uniform(0.7, 1.3, 8)
    return f[:, None] * lead[None, :]


def _band_noise(white: np.ndarray, fs: int, lo: float, hi: float) -> np.ndarray:
    """White noise (n, k) band-limited to [lo, hi] Hz with soft edges (FFT), scaled to unit spread."""
    spectrum = np.fft.rfft(white, axis=0)
    f = np.fft.rfftfreq(len(white), 1.0 / fs)
    gain = 1.0 / (1.0 + np.exp(-(f - lo) / 3.0)) / (1.0 + np.exp((f - hi) / 5.0))
    out = np.fft.irfft(spectrum * gain[:, None], n=len(white), axis=0)
    return out / (out.std(axis=0, keepdims=True) + 1e-12)


def _noise(spec: EcgSpec, fs: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 8) baseline wander (slow sinusoids and drift), muscle tremor in bursts (20-100 Hz band),
    white noise and mains hum, each lead its own."""
    t = np.arange(n) / fs
    out = rng.normal(0.0, spec.noise_mv, (n, 8))
    for _ in range(3):
        amp = spec.wander_mv * rng.uniform(0.2, 1.0, 8)
        out += amp * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t[:, None] + rng.uniform(0, 2 * np.pi, 8))
    if spec.muscle_mv > 0:
        tremor = _band_noise(rng.standard_normal((n, 8)), fs, 20.0, min(100.0, 0.45 * fs))
        bursts = np.clip(np.sin(2 * np.pi * rng.uniform(0.1, 0.6) * t + rng.uniform(0, 6)) + rng.uniform(-0.3, 1.0),
                         0.0, 1.0)
        out += spec.muscle_mv * tremor * bursts[:, None] * rng.uniform(0.3, 1.0, 8)
    if spec.hum_mv > 0 and fs > 120:
        hz = rng.choice([50.0, 60.0])
        out += spec.hum_mv * np.sin(2 * np.pi * hz * t[:, None] + rng.uniform(0, 2 * np.pi, 8))
    return out


def simulate(spec: EcgSpec, fs: int, rng: np.random.Generator) -> pd.DataFrame:
    """A 10 s 12-lead record of `spec` at fs (fs*10 rows, columns layout.LEADS, mV). Deterministic given rng."""
    n = int(round(fs * DURATION_S))
    t = np.arange(n) / fs
    beats = _beat_times(spec, rng)
    independent = _waves(spec, beats, t, rng)
    if spec.rhythm == "af":
        independent += _fibrillation(t, rng)
    independent += _noise(spec, fs, n, rng)
    leads = dict(zip(INDEPENDENT, independent.T))
    lead_i, lead_ii = leads["I"], leads["II"]
    leads.update({"III": lead_ii - lead_i, "aVR": -(lead_i + lead_ii) / 2.0,
                  "aVL": lead_i - lead_ii / 2.0, "aVF": lead_ii - lead_i / 2.0})
    return pd.DataFrame({lead: leads[lead] for lead in LEADS})


def simulate_record(fs: int, rng: np.random.Generator) -> pd.DataFrame:
    """A random 10 s 12-lead record at fs: `simulate(draw_spec(rng), fs, rng)`."""
    return simulate(draw_spec(rng), fs, rng)
