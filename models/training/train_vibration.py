"""Recipe: the ``vibration-anomaly`` model (dense autoencoder, full-integer int8).

    python -m models.training.train_vibration --out models/shipped/vibration-anomaly
    python -m models.training.train_vibration --out /tmp/mine --dataset /tmp/export   # retrain

Steps (all seeded):
1. windows of normal operation from ``MachineSim`` (several seeds, both
   products, frequent starts and stops so ramps are normal too);
2. features with ``models.features`` (the same code the box runs), mean/std;
3. a dense autoencoder 20-32-8-32-20 learns to reconstruct normal features;
4. TFLiteConverter with a representative dataset of normal windows ->
   int8 in, int8 out, int8 weights (full-integer);
5. evaluation through ``models.runtime.LoadedModel`` (the box's code path):
   ROC AUC per injected fault, false alarms per hour on an hour of normal
   demo operation per seed, raw and after the guard's 3-of-5 debounce;
6. writes model.tflite, manifest.json, MODEL_CARD.md.

With ``--dataset DIR`` (a folder from ``models.dataset.export_dataset``) the
normal-labelled windows are added to the training data (weighted x10) and all
labelled windows are evaluated as an extra test set.

Needs TensorFlow (``pip install '.[train]'``); the box does not.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np

from models import features
from models.training import common, data_sim

MODEL_ID = "vibration-anomaly"
RECIPE = "python -m models.training.train_vibration"


def featurise(windows: list[dict[str, np.ndarray]]) -> np.ndarray:
    return np.stack([features.compute_features(features.VIB_PIPELINE, data_sim.VIB_PARAMS, w, data_sim.SIGNALS)
                     for w in windows]).astype(np.float32)


def build_autoencoder(n: int):
    import tensorflow as tf

    inp = tf.keras.Input(shape=(n,), name="features")
    x = tf.keras.layers.Dense(32, activation="relu")(inp)
    x = tf.keras.layers.Dense(8, activation="relu")(x)
    x = tf.keras.layers.Dense(32, activation="relu")(x)
    out = tf.keras.layers.Dense(n, name="reconstruction")(x)
    return tf.keras.Model(inp, out)


def nofm_statistic(scores: np.ndarray, n: int = 3, m: int = 5) -> float:
    """Largest threshold at which N-of-M would still trip somewhere in ``scores``."""
    if len(scores) < m:
        return float(np.max(scores))
    win = np.lib.stride_tricks.sliding_window_view(scores, m)
    return float(np.max(np.sort(win, axis=1)[:, m - n]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="train_vibration", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder (model.tflite, manifest.json, MODEL_CARD.md)")
    ap.add_argument("--seed", type=int, default=20260101)
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--train-minutes", type=float, default=15.0, help="simulated minutes per training seed")
    ap.add_argument("--train-seeds", type=int, default=8)
    ap.add_argument("--eval-hours", type=float, default=1.0, help="simulated hours of normal operation per eval seed")
    ap.add_argument("--dataset", type=Path, help="exported dataset folder: fine-tune and evaluate on it")
    args = ap.parse_args(argv)

    common.seed_everything(args.seed)
    import tensorflow as tf

    from models.runtime import LoadedModel

    print("simulating normal operation ...", flush=True)
    train_w = data_sim.normal_windows(seeds=range(args.train_seeds), duration_s=args.train_minutes * 60,
                                      mean_run_s=120.0, mean_stop_s=30.0)
    x_train = featurise([w.as_window() for w in train_w])
    val_w = data_sim.normal_windows(seeds=[100, 101], duration_s=args.eval_hours * 1800)
    x_val = featurise([w.as_window() for w in val_w])
    extra: list[tuple[dict[str, np.ndarray], str]] = []
    if args.dataset:
        from models.dataset import read_dataset

        ds = read_dataset(args.dataset)
        extra = [(w, lbl) for w, lbl in ds.items if set(data_sim.SIGNALS) <= set(w)]
        normal_extra = [w for w, lbl in extra if lbl == "normal"]
        if normal_extra:
            x_train = np.concatenate([x_train] + [featurise(normal_extra)] * 10)
        print(f"dataset {args.dataset}: {len(extra)} labelled windows, {len(normal_extra)} normal", flush=True)

    mean = x_train.mean(axis=0)
    # Floor on std: a feature that never moves in normal data (e.g. current
    # at a fixed load) must not blow up a tiny deviation.
    std = np.maximum(x_train.std(axis=0), 0.05)
    xn_train = features.normalise(x_train, mean, std)
    xn_val = features.normalise(x_val, mean, std)

    print(f"training autoencoder on {len(xn_train)} windows ...", flush=True)
    ae = build_autoencoder(xn_train.shape[1])
    ae.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="mse")
    ae.fit(xn_train, xn_train, epochs=args.epochs, batch_size=128, shuffle=True, verbose=0,
           validation_data=(xn_val, xn_val),
           callbacks=[tf.keras.callbacks.ReduceLROnPlateau(patience=5, factor=0.5)])
    rng = np.random.default_rng(args.seed)
    rep = xn_train[rng.choice(len(xn_train), size=min(2000, len(xn_train)), replace=False)]
    tflite = common.convert_int8(ae, rep)

    vib = data_sim.VIB_PARAMS  # dict[str, float] to mypy; n_bands is the int 16
    names = features.vibration_feature_names(n_bands=int(vib["n_bands"]), f_low_hz=vib["f_low_hz"],
                                             f_high_hz=vib["f_high_hz"])
    n = len(names)
    fields = {
        "name": MODEL_ID, "version": args.version, "kind": "anomaly",
        "description": "Autoencoder on vibration band energies + motor current; score = reconstruction error.",
        # Spin-up windows score 10 to 86 (threshold 23): the guard must gate it on the running signal.
        "scores_only_while_running": True,
        "inputs": {
            "signals": [
                {"name": "vibration", "kind": "block", "unit": "m/s^2", "sample_rate_hz": data_sim.VIB_PARAMS["sample_rate_hz"]},
                {"name": "motor_current", "kind": "scalar", "unit": "A"},
            ],
            "window": data_sim.VIB_PARAMS["window"], "hop": data_sim.HOP,
            "sample_rate_hz": data_sim.VIB_PARAMS["sample_rate_hz"],
        },
        "input_tensor": {"shape": [1, n], "dtype": "int8"},
        "output_tensor": {"shape": [1, n], "dtype": "int8"},
        "preprocessing": {"pipeline": features.VIB_PIPELINE, "params": data_sim.VIB_PARAMS,
                          "feature_names": names, "mean": [float(v) for v in mean], "std": [float(v) for v in std],
                          "residual_std": [1.0] * n},
        "output": {"meaning": "reconstruction of the normalised feature vector (int8)",
                   "score": "mean squared reconstruction error over the normalised features; higher = less like normal operation"},
        "default_threshold": 1.0,
        "created": dt.date.today().isoformat(),
        "training": {"recipe": RECIPE, "seed": args.seed, "framework": f"tensorflow {tf.__version__} (TFLiteConverter, int8)",
                     "data": (f"MachineSim normal operation: {args.train_seeds} seeds x {args.train_minutes:g} min "
                              "(mean run 120 s, mean stop 30 s, random product per start); validation: seeds 100-101"),
                     "dataset": str(args.dataset) if args.dataset else None},
    }
    manifest = common.write_model(args.out, tflite, fields)
    model = LoadedModel(args.out / "model.tflite", manifest)
    # Residual spread per feature on normal validation windows, measured
    # through the int8 model itself (so it includes quantization error).
    res = np.stack([model.reconstruct(row) for row in xn_val]) - xn_val
    residual_std = np.maximum(np.sqrt(np.mean(res * res, axis=0)), 0.05)
    data = manifest.model_dump(mode="json")
    data["preprocessing"]["residual_std"] = [float(v) for v in residual_std]
    manifest = common.write_model(args.out, tflite, data)
    model = LoadedModel(args.out / "model.tflite", manifest)

    def scores(x: np.ndarray) -> np.ndarray:
        return np.array([model.score_features(row) for row in x])

    s_val = scores(x_val)
    threshold = round(1.25 * max(nofm_statistic(s_val), float(np.quantile(s_val, 0.999))), 4)
    print(f"threshold {threshold}", flush=True)

    print("evaluating on normal hours and injected faults ...", flush=True)
    hop_s = data_sim.HOP / data_sim.VIB_PARAMS["sample_rate_hz"]
    normal_scores = []
    raw_exceed = 0
    alarms = 0
    hours = 0.0
    for seed in (1000, 1001):
        ws = list(data_sim.simulate(seed=seed, duration_s=args.eval_hours * 3600))
        s = scores(featurise([w.as_window() for w in ws]))
        normal_scores.append(s)
        raw_exceed += int((s >= threshold).sum())
        alarms += common.debounced_alarms(s, threshold)
        hours += len(s) * hop_s / 3600
    s_norm = np.concatenate(normal_scores)
    per_fault = {}
    all_fault = []
    for fault in data_sim.EVAL_FAULTS:
        fw = data_sim.fault_windows(fault, seeds=[2000, 2001, 2002])
        s = scores(featurise([w.as_window() for w in fw]))
        all_fault.append(s)
        per_fault[fault] = {"windows": len(s), "roc_auc": round(common.roc_auc(s_norm, s), 4),
                            "detected_at_threshold": round(float((s >= threshold).mean()), 4)}
    s_fault = np.concatenate(all_fault)
    evaluation = {
        "roc_auc": round(common.roc_auc(s_norm, s_fault), 4),
        "per_fault": per_fault,
        "normal_windows": len(s_norm),
        "normal_hours": round(hours, 3),
        "hop_s": hop_s,
        "false_positive_rate_per_window": round(raw_exceed / len(s_norm), 6),
        "false_alarms_per_hour_raw": round(raw_exceed / hours, 3),
        "false_alarms_per_hour_debounced_3_of_5": round(alarms / hours, 3),
        "normal_score_p50": round(float(np.median(s_norm)), 5),
        "normal_score_p99": round(float(np.quantile(s_norm, 0.99)), 5),
        "tflite_bytes": len(tflite),
        "threshold_rule": "1.25 x max(3-of-5 statistic, 99.9th percentile) of validation normal scores",
    }
    if extra:
        s_x = scores(featurise([w for w, _ in extra]))
        lbl = np.array([lb for _, lb in extra])
        evaluation["dataset"] = {
            "windows": len(extra),
            "roc_auc": round(common.roc_auc(s_x[lbl == "normal"], s_x[lbl == "anomaly"]), 4),
            "anomaly_detected_at_threshold": round(float((s_x[lbl == "anomaly"] >= threshold).mean()), 4)
            if (lbl == "anomaly").any() else None,
            "normal_above_threshold": round(float((s_x[lbl == "normal"] >= threshold).mean()), 4)
            if (lbl == "normal").any() else None,
        }
    manifest = common.update_evaluation(args.out, manifest, evaluation, default_threshold=threshold)
    write_card(args.out, manifest)
    print(common.dumps(evaluation))
    return 0


def write_card(out: Path, m) -> None:
    e = m.evaluation
    rows = "\n".join(f"| {f} | {v['windows']} | {v['roc_auc']:.4f} | {v['detected_at_threshold']:.1%} |"
                     for f, v in e["per_fault"].items())
    ds = ""
    if "dataset" in e:
        ds = f"\n\nExtra dataset `{m.training.dataset}`: {common.dumps(e['dataset'])}\n"
    text = f"""# Model card: {m.name} {m.version}

**What it does.** Watches a machine's vibration (2 kHz block) and motor current and
scores how unlike normal operation a {m.inputs.window}-sample window is (one score every
{m.inputs.hop} samples = {e['hop_s'] * 1000:.0f} ms). Score = mean squared reconstruction error of a dense
autoencoder over {len(m.preprocessing.feature_names)} normalised features, each error divided by that feature's
residual spread on normal data (`preprocessing.residual_std`), so normal windows score about 1 ({m.preprocessing.pipeline} in
`models/features.py`: {m.preprocessing.params.n_bands} log band energies, log RMS, log kurtosis, crest
factor, mean current). Default threshold **{m.default_threshold}**.

**Not a safety function.** A trip is a supplementary stop (see README).

## Training
- Recipe: `{m.training.recipe} --out DIR` (seed {m.training.seed}); {m.training.framework}.
- Data: {m.training.data}.
- Network: Dense 20-32-8-32-20 (ReLU), MSE, Adam; full-integer int8 conversion with a
  representative set of 2,000 normal windows. File size {e['tflite_bytes']} bytes.
- Threshold: {e['threshold_rule']}.

## Evaluation (through the box runtime, LiteRT int8)
Normal: {e['normal_windows']} windows = {e['normal_hours']} h of simulated demo operation (seeds
1000-1001; random starts/stops, idle, down, both products). Faults: injected at severity 1.0 on a
running machine (seeds 2000-2002, both products), windows from 1 s after injection.

- ROC AUC, all faults vs normal: **{e['roc_auc']:.4f}**
- False alarms at the default threshold: {e['false_alarms_per_hour_raw']} windows/h above threshold
  (per-window rate {e['false_positive_rate_per_window']}); **{e['false_alarms_per_hour_debounced_3_of_5']} alarms/h**
  after the guard's default 3-of-5 debounce.

| fault | windows | ROC AUC | windows above threshold |
|---|---|---|---|
{rows}
{ds}
## Limits
- Trained on simulator data only. On a real machine, retrain on its own normal operation
  (`models/README.md`, "Retrain on your own data") before arming the guard.
- The simulator's bearing-wear signature is weak (the outer-race impact rings for well under
  one sample period at 2 kHz), so bearing wear separates less well than the other faults.
- Overload changes only the motor current (not the vibration); it is detected through the
  current/vibration relation the autoencoder learnt.
"""
    (out / "MODEL_CARD.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
