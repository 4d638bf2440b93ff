"""AlpacaEval 2.0's length-controlled (LC) win rate, rebuilt from its method.

A judge that likes long answers rewards verbosity, so the raw win rate against a baseline can be bought with
length. The LC win rate asks instead: how often would the model win if its answer were as long as the
baseline's? Per model, a logistic GLM explains the judge's preference for the model over the baseline by

    tanh(length difference / its std)  +  instruction difficulty  +  not-gamed-baseline term   (no intercept)

and the LC win rate is the GLM's prediction at zero length difference, averaged over the model's instructions.
As in AlpacaEval (`length_controlled_v1`):

- the length difference is baseline minus model, in characters, divided by its standard deviation (ddof 1)
  over the model's rows, not centred: zero must stay "equally long";
- fractional preferences (1 = baseline, 2 = model, 1.5 or 0 = tie) are soft labels: each row's cross-entropy
  against its probability, which is what AlpacaEval's duplicated, probability-weighted rows amount to;
- the optional gamed-baseline table holds the baseline judged against its own verbose and concise rewrites,
  with the not-gamed term 0 and weight 0.2 / 2 per row: it pins the length slope to how the judge reacted to
  pure length changes, so a model cannot buy a better slope;
- the penalty is L1 (liblinear's objective: ||b||_1 + C * sum of weighted losses); C is chosen from
  logspace(-4, 4, 10) by 5-fold cross-validation on the weighted log-loss (predictions clipped at 1e-15),
  each row its own group, folds dealt as scikit-learn's GroupKFold deals equal-sized groups (the last row
  to fold 0, the one before to fold 1, ...), ties to the smallest C; then refitted on all rows.

The fit is solved to machine precision (orthant-wise Newton), where liblinear stops at a relative tolerance
of 1e-4: on AlpacaEval's published annotations the two agree to about 0.01 points (up to 0.07 where
liblinear's approximation tips the choice of C between near-equal cross-validation scores).

Instruction difficulty is a per-instruction effect; AlpacaEval estimated it once, jointly over many models
judged against the same baseline (per-model bias and length slope, one effect per instruction, the first
instruction's fixed at 0), and ships the result. `instruction_difficulty_from` does that estimate;
`length_controlled_win_rate` uses it when no table is given and the annotations hold several models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import RankingError, show

N_FOLDS = 5
C_GRID = np.logspace(-4, 4, 10)
GAMED_ROW_WEIGHT = 0.2 / 2  # AlpacaEval's regularize_to_baseline_lambda, split over its two gamed variants
LC_COLUMNS = [
    "win_rate",
    "standard_error",
    "n_wins",
    "n_wins_base",
    "n_draws",
    "n_total",
    "discrete_win_rate",
    "length_controlled_winrate",
    "lc_standard_error",
]
GAMED_COLUMNS = ["preference", "index", "std_delta_len", "instruction_difficulty", "not_gamed_baseline"]
_REQUIRED = ["instruction", "output_1", "output_2", "preference"]


# ---------------------------------------------------------------------------------------------- public API
def length_controlled_win_rate(
    annotations: pd.DataFrame,
    instruction_difficulty: pd.Series | None = None,
    gamed_baseline: pd.DataFrame | None = None,
    *,
    model: str | None = None,
    C: float | None = None,
) -> dict:
    """AlpacaEval's metrics of one model against the baseline, LC win rate included, in percent.

    `annotations`: AlpacaEval's columns, one row per instruction, row labels = instruction ids (AlpacaEval's
    0..804): `instruction`, `output_1` (baseline answer), `output_2` (model answer), `preference` in [1, 2]
    (fractional = probability the model's answer is preferred, plus one; 1.5 or 0 = tie; NaN = not judged:
    left out of the win rates and the fit, still predicted). With a `generator_2` column holding several
    models, `model` names the one scored and the others only inform the difficulty estimate.
    `instruction_difficulty`: a Series indexed by those row labels. Without it, the gamed-baseline table's
    difficulty column is used (AlpacaEval's own estimate, keyed by its `index`), and without that the
    difficulty is estimated jointly from all models in `annotations` (`instruction_difficulty_from`).
    `gamed_baseline`: AlpacaEval's `df_gamed.csv` (`GAMED_COLUMNS`); None fits without regularisation rows.
    `C` fixes the inverse L1 strength instead of choosing it by cross-validation.
    Returns a dict with `LC_COLUMNS` (AlpacaEval's names).
    """
    frame = _check_annotations(annotations)
    models = _models(frame)
    if model is None:
        if len(models) > 1:
            raise RankingError(
                f"annotations: column 'generator_2' holds {len(models)} models ({_few(models)}); name the "
                "one to score with model=..., or use length_controlled_win_rates for all of them"
            )
        model = models[0]
    elif model not in models:
        raise RankingError(
            f"annotations: model {show(model)} is not in column 'generator_2' ({_few(models)})"
        )
    if C is not None and not (isinstance(C, int | float) and np.isfinite(C) and C > 0):
        raise RankingError(f"C: the inverse L1 strength must be a positive number, got {show(C)}")
    gamed = _check_gamed(gamed_baseline)
    difficulty = _resolve_difficulty(frame, instruction_difficulty, gamed, len(models))
    rows = frame if model is None or "generator_2" not in frame else frame[frame["generator_2"] == model]
    return _score_model(rows, difficulty, gamed, C)


def length_controlled_win_rates(
    annotations: pd.DataFrame,
    instruction_difficulty: pd.Series | None = None,
    gamed_baseline: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """`length_controlled_win_rate` for every model of `generator_2`, one row per model (index `model`).

    The difficulty is resolved once (a joint estimate is fitted once for the whole board), then each model
    gets its own GLM. Sorted by LC win rate, best first.
    """
    frame = _check_annotations(annotations)
    if "generator_2" not in frame:
        raise RankingError("annotations: column 'generator_2' (the model of each row) is missing")
    models = _models(frame)
    gamed = _check_gamed(gamed_baseline)
    difficulty = _resolve_difficulty(frame, instruction_difficulty, gamed, len(models))
    out = pd.DataFrame(
        [_score_model(frame[frame["generator_2"] == m], difficulty, gamed, None) for m in models],
        index=pd.Index(models, name="model"),
        columns=LC_COLUMNS,
    )
    return out.sort_values("length_controlled_winrate", ascending=False, kind="stable")


def instruction_difficulty_from(annotations: pd.DataFrame) -> pd.Series:
    """Estimate instruction difficulty jointly from several models judged against one baseline.

    `annotations`: every model's AlpacaEval rows stacked (`pd.concat` of per-model frames), a `generator_2`
    column naming the model, row labels = instruction ids shared across models. As AlpacaEval's notebook:
    rows without a preference or with an empty model answer are left out; each model gets a bias and a slope
    on tanh(length difference / the model's std); every instruction but the first (sorted) gets an effect; L1
    logistic fit, C by grouped 5-fold CV. The notebook's extra not-gamed term is left out: it equals the sum
    of the per-model biases, so it only moved L1 penalty between them while making the fit degenerate.
    Returns the effects (first instruction 0) as a Series named `instruction_difficulty`, by instruction id.
    """
    from scipy import sparse  # here, not at import: loading the code location must not load scipy
    frame = _check_annotations(annotations)
    if "generator_2" not in frame:
        raise RankingError("annotations: column 'generator_2' (the model of each row) is missing")
    _check_stacked(frame)
    try:
        labels = pd.Index(pd.unique(frame.index)).sort_values()
    except TypeError as exc:
        raise RankingError(f"annotations: row labels (instruction ids) cannot be sorted ({exc})") from exc
    frame = frame[frame["preference"].notna() & (frame["output_2"].str.len() > 0)]
    models = _models(frame)
    if len(models) < 2:
        raise RankingError(
            "instruction difficulty needs several models judged on the same instructions; the annotations "
            f"hold {len(models)} with a preference ({_few(models)})"
        )
    n = len(frame)
    model_col = pd.Index(models).get_indexer(frame["generator_2"])
    slope = np.zeros(n)
    for k in range(len(models)):
        mine = model_col == k
        slope[mine] = _tanh_std_delta(frame.loc[mine, "output_1"], frame.loc[mine, "output_2"])
    instr_col = labels.get_indexer(frame.index)
    rows = np.arange(n)
    k_models = len(models)
    has_effect = instr_col > 0  # the first instruction is the reference level, effect 0
    X = sparse.csr_matrix(
        (
            np.concatenate([np.ones(n), slope, np.ones(int(has_effect.sum()))]),
            (
                np.concatenate([rows, rows, rows[has_effect]]),
                np.concatenate([model_col, k_models + model_col, 2 * k_models - 1 + instr_col[has_effect]]),
            ),
        ),
        shape=(n, 2 * k_models + len(labels) - 1),
    )
    y = _preference01(frame["preference"]).to_numpy()
    beta, _ = _cv_fit(X, y, np.ones(n), n_head=2 * k_models)
    effects = np.concatenate([[0.0], beta[2 * k_models:]])
    return pd.Series(effects, index=labels, name="instruction_difficulty")


# ------------------------------------------------------------------------------------------ one model
def _score_model(
    rows: pd.DataFrame, difficulty: pd.Series, gamed: pd.DataFrame | None, C: float | None
) -> dict:
    """Win rates and the LC win rate of one model's rows."""
    out = _win_rate_stats(rows["preference"])
    g1 = rows["generator_1"] if "generator_1" in rows else None
    if g1 is not None and "generator_2" in rows and bool((g1 == rows["generator_2"]).all()):
        # the baseline against itself: 50% by construction, as AlpacaEval returns
        out["length_controlled_winrate"], out["lc_standard_error"] = 50.0, 0.0
        return out
    d = difficulty.reindex(rows.index)
    missing = d.isna().to_numpy()
    if missing.any():
        raise RankingError(
            f"instruction_difficulty: no value for row {show(rows.index[int(np.flatnonzero(missing)[0])])} "
            f"of the annotations ({int(missing.sum())} rows lack one)"
        )
    d = d.to_numpy(float)
    y = _preference01(rows["preference"]).to_numpy()
    length = _tanh_std_delta(rows["output_1"], rows["output_2"])
    train = ~np.isnan(y)
    X = np.column_stack([length[train], d[train], np.ones(int(train.sum()))])
    y, w = y[train], np.ones(int(train.sum()))
    if gamed is not None:
        not_gamed = gamed["not_gamed_baseline"].to_numpy(bool)
        Xg = np.column_stack([
            np.tanh(gamed["std_delta_len"].to_numpy(float)),
            gamed["instruction_difficulty"].to_numpy(float),
            not_gamed.astype(float),
        ])
        X = np.vstack([Xg, X])  # gamed rows first: the CV folds depend on the row order
        y = np.concatenate([gamed["preference"].to_numpy(float), y])
        w = np.concatenate([np.where(not_gamed, 1.0, GAMED_ROW_WEIGHT), w])
    if C is None and len(y) < N_FOLDS:
        raise RankingError(f"annotations: {len(y)} judged rows; the {N_FOLDS}-fold choice of C needs more")
    beta = _cv_fit(X, y, w)[0] if C is None else _fit_l1_logistic(X, y, w, float(C))
    predicted = _expit(beta[1] * d + beta[2])  # zero length difference, not-gamed baseline
    out["length_controlled_winrate"] = float(predicted.mean() * 100)
    out["lc_standard_error"] = float(pd.Series(predicted).sem() * 100)
    return out


def _win_rate_stats(preference: pd.Series) -> dict:
    """AlpacaEval's raw metrics: mean preference, its standard error, counts, and the rounded win rate."""
    p = preference.astype(float).replace({0.0: 1.5})
    n_draws = int((p == 1.5).sum())
    p = p[p.notna()] - 1
    discrete = np.where(p == 0.5, 0.5, p.round())  # exact ties stay ties, the rest round to a side
    return {
        "win_rate": float(p.mean() * 100),
        "standard_error": float(p.sem() * 100),
        "n_wins": int((p > 0.5).sum()),
        "n_wins_base": int((p < 0.5).sum()),
        "n_draws": n_draws,
        "n_total": len(p),
        "discrete_win_rate": float(np.mean(discrete) * 100) if len(p) else float("nan"),
    }


# ------------------------------------------------------------------------------------------- the fit
def _cv_fit(X, y: np.ndarray, w: np.ndarray, n_head: int | None = None) -> tuple[np.ndarray, float]:
    """Choose C on `C_GRID` by 5-fold CV of the weighted log-loss, then refit on all rows."""
    n = len(y)
    fold = (n - 1 - np.arange(n)) % N_FOLDS  # GroupKFold with one equal-sized group per row
    scores = np.zeros(len(C_GRID))
    for f in range(N_FOLDS):
        test = fold == f
        Xtr, Xte = X[~test], X[test]
        beta = None
        for k, C in enumerate(C_GRID):  # each fit starts from the previous C's optimum
            beta = _fit_l1_logistic(Xtr, y[~test], w[~test], C, beta, n_head)
            q = np.clip(_expit(Xte @ beta), 1e-15, 1 - 1e-15)
            loss = -w[test] * (y[test] * np.log(q) + (1 - y[test]) * np.log1p(-q))
            scores[k] += -loss.mean() / N_FOLDS
    best = float(C_GRID[int(np.argmax(scores))])
    return _fit_l1_logistic(X, y, w, best, None, n_head), best


def _fit_l1_logistic(
    X, y: np.ndarray, w: np.ndarray, C: float, start: np.ndarray | None = None, n_head: int | None = None
) -> np.ndarray:
    """argmin ||b||_1 / C + sum_i w_i * crossentropy(y_i, sigmoid(x_i b)), y_i soft labels in [0, 1].

    Orthant-wise Newton: in the orthant the signs of b and of the pseudo-gradient pick, a Newton step on the
    free coefficients (a zero one joins only if its step goes downhill), projected back onto the orthant
    (a coefficient crossing zero stops at zero), with backtracking. Once the signs settle it converges
    quadratically, to the optimum liblinear approximates. Columns from `n_head` on must be one-hot
    (instruction effects), so their Hessian block is diagonal and the Newton system shrinks to the head.
    """
    from scipy import sparse  # here, not at import: loading the code location must not load scipy
    lam = 1.0 / C
    p = X.shape[1]
    n_head = p if n_head is None else n_head
    Xt = X.T.tocsr() if sparse.issparse(X) else X.T
    beta = np.zeros(p) if start is None else start.copy()

    def objective(b: np.ndarray) -> tuple[float, np.ndarray]:
        z = X @ b
        return float(np.sum(w * (np.logaddexp(0.0, z) - y * z)) + lam * np.abs(b).sum()), z

    f, z = objective(beta)
    tol = 1e-9 * max(1.0, float(np.abs(Xt @ (w * (0.5 - y))).max()))
    for _ in range(200):
        q = _expit(z)
        g = Xt @ (w * (q - y))
        shrunk = np.sign(g) * np.maximum(np.abs(g) - lam, 0.0)
        pg = np.where(beta > 0, g + lam, np.where(beta < 0, g - lam, shrunk))  # pseudo-gradient
        if np.abs(pg).max() <= tol:
            break
        orthant = np.where(beta != 0, np.sign(beta), -np.sign(pg))
        h = w * q * (1 - q)
        hess = (Xt @ sparse.diags(h) @ X).toarray() if sparse.issparse(X) else (Xt * h) @ X
        step = _newton_step(hess, pg, beta, n_head)
        if -float(pg @ step) <= 1e-15 * max(1.0, abs(f)):
            break  # what is left to gain is below the objective's rounding
        t, improved = 1.0, False
        while t > 1e-12:
            cand = beta + t * step
            cand[np.sign(cand) != orthant] = 0.0
            f_cand, z_cand = objective(cand)
            if f_cand <= f + 1e-4 * float(pg @ (cand - beta)):
                improved = f_cand < f
                break
            t /= 2
        if not improved:
            break
        beta, f, z = cand, f_cand, z_cand
    return beta


def _newton_step(hess: np.ndarray, pg: np.ndarray, beta: np.ndarray, n_head: int) -> np.ndarray:
    """Newton step on the free coefficients; zero ones whose step goes uphill are dropped and re-solved."""
    free = (beta != 0) | (pg != 0)
    step = np.zeros(len(pg))
    for _ in range(len(pg)):
        step[:] = 0.0
        step[free] = -_newton_solve(hess, pg, free, n_head)
        uphill = (beta == 0) & (step * pg > 0)
        if not uphill.any():
            break
        free &= ~uphill
        if not free.any():
            break
    if float(pg @ step) >= 0 or not np.all(np.isfinite(step)):
        step = -pg  # steepest descent keeps the iteration going where Newton cannot
    return step


def _newton_solve(hess: np.ndarray, pg: np.ndarray, free: np.ndarray, n_head: int) -> np.ndarray:
    """Solve hess[free, free] x = pg[free], the one-hot tail's diagonal block eliminated first."""
    ridge = 1e-12 * max(1.0, float(np.trace(hess)) / len(hess))
    hf, tf = free[:n_head], free[n_head:]
    a = hess[:n_head, :n_head][np.ix_(hf, hf)] + ridge * np.eye(int(hf.sum()))
    r1, r2 = pg[:n_head][hf], pg[n_head:][tf]
    if not tf.any():
        return np.linalg.lstsq(a, r1, rcond=None)[0]
    d = np.diag(hess)[n_head:][tf] + ridge
    if not hf.any():
        return r2 / d
    b = hess[:n_head, n_head:][np.ix_(hf, tf)]
    schur = a - (b / d) @ b.T
    x1 = np.linalg.lstsq(schur, r1 - b @ (r2 / d), rcond=None)[0]
    return np.concatenate([x1, (r2 - b.T @ x1) / d])


# ------------------------------------------------------------------------------------------ features
def _expit(z):
    """The logistic function, from numpy alone (scipy stays out of the code location's import)."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=float)))


def _tanh_std_delta(output_1: pd.Series, output_2: pd.Series) -> np.ndarray:
    """tanh of (baseline length - model length) / its std; zeros when the difference never varies."""
    delta = (output_1.str.len() - output_2.str.len()).to_numpy(float)
    sd = float(np.std(delta, ddof=1)) if len(delta) > 1 else 0.0
    if not np.isfinite(sd) or sd == 0:
        return np.zeros(len(delta))
    return np.tanh(delta / sd)


def _preference01(preference: pd.Series) -> pd.Series:
    """Preference on [0, 1] (0 = baseline, 1 = model); AlpacaEval's legacy 0 means a tie."""
    return preference.astype(float).replace({0.0: 1.5}) - 1


# ---------------------------------------------------------------------------------------- input checks
def _check_annotations(annotations) -> pd.DataFrame:
    if not isinstance(annotations, pd.DataFrame):
        raise RankingError(f"annotations: expected a pandas DataFrame, got {type(annotations).__name__}")
    missing = [c for c in _REQUIRED if c not in annotations.columns]
    if missing:
        raise RankingError(f"annotations: missing columns {missing} (have {list(annotations.columns)})")
    if annotations.empty:
        raise RankingError("annotations: no rows")
    for col in ("output_1", "output_2"):
        bad = ~annotations[col].map(lambda v: isinstance(v, str)).to_numpy(bool)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise RankingError(
                f"annotations: column {col!r} must hold the answer text (lengths are in characters); row "
                f"{show(annotations.index[k])} has {show(annotations[col].iloc[k])}"
            )
    pref = pd.to_numeric(annotations["preference"], errors="coerce")
    raw_bad = pref.isna() & annotations["preference"].notna()
    out_of_range = pref.notna() & (pref != 0) & ((pref < 1) | (pref > 2))
    bad = (raw_bad | out_of_range).to_numpy()
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise RankingError(
            f"annotations: column 'preference' must be in [1, 2] (1 = baseline, 2 = model, 0 or 1.5 = tie) "
            f"or NaN; row {show(annotations.index[k])} has {show(annotations['preference'].iloc[k])} "
            f"({int(bad.sum())} such rows)"
        )
    if "generator_2" in annotations and annotations["generator_2"].isna().any():
        k = int(np.flatnonzero(annotations["generator_2"].isna().to_numpy())[0])
        raise RankingError(f"annotations: column 'generator_2' is empty in row {show(annotations.index[k])}")
    frame = annotations.copy()
    frame["preference"] = pref.astype(float)
    return frame


def _check_stacked(frame: pd.DataFrame) -> None:
    """Row labels of stacked annotations are instruction ids: one row per model and id, one text per id."""
    keys = pd.DataFrame({"model": frame["generator_2"].to_numpy(), "label": frame.index})
    dup = keys.duplicated().to_numpy()
    if dup.any():
        k = int(np.flatnonzero(dup)[0])
        raise RankingError(
            f"annotations: model {show(keys['model'].iloc[k])} has several rows labelled "
            f"{show(keys['label'].iloc[k])}; row labels must be instruction ids, one row per model and id"
        )
    texts = frame["instruction"].groupby(level=0).nunique()
    if (texts > 1).any():
        raise RankingError(
            f"annotations: rows labelled {show(texts.index[int(np.argmax(texts.to_numpy() > 1))])} hold "
            "different instructions; row labels must be instruction ids shared across models"
        )


def _models(frame: pd.DataFrame) -> list:
    if "generator_2" not in frame:
        return [None]
    return list(pd.unique(frame["generator_2"]))


def _few(models: list) -> str:
    names = ", ".join(str(m) for m in models[:5])
    return names + (", ..." if len(models) > 5 else "")


def _check_gamed(gamed: pd.DataFrame | None) -> pd.DataFrame | None:
    if gamed is None:
        return None
    if not isinstance(gamed, pd.DataFrame):
        raise RankingError(f"gamed_baseline: expected a pandas DataFrame, got {type(gamed).__name__}")
    missing = [c for c in GAMED_COLUMNS if c not in gamed.columns]
    if missing:
        raise RankingError(f"gamed_baseline: missing columns {missing} (have {list(gamed.columns)})")
    for col in ("preference", "std_delta_len", "instruction_difficulty"):
        values = pd.to_numeric(gamed[col], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(float))
        if col == "preference":
            bad |= ~((values >= 0) & (values <= 1)).to_numpy()
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            need = "a probability in [0, 1]" if col == "preference" else "a finite number"
            raise RankingError(
                f"gamed_baseline: column {col!r} must be {need}; row {show(gamed.index[k])} has "
                f"{show(gamed[col].iloc[k])}"
            )
    return gamed


def _resolve_difficulty(
    frame: pd.DataFrame, given: pd.Series | None, gamed: pd.DataFrame | None, n_models: int
) -> pd.Series:
    if given is not None:
        if not isinstance(given, pd.Series):
            raise RankingError(
                "instruction_difficulty: expected a pandas Series indexed by the annotations' row labels, "
                f"got {type(given).__name__}"
            )
        values = pd.to_numeric(given, errors="coerce")
        bad = ~np.isfinite(values.to_numpy(float))
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise RankingError(
                f"instruction_difficulty: entry {show(given.index[k])} is {show(given.iloc[k])}, not a number"
            )
        if not values.index.is_unique:
            raise RankingError("instruction_difficulty: its index repeats labels; one value per instruction")
        return values.astype(float)
    if gamed is not None:
        first = gamed.drop_duplicates("index")
        return pd.Series(first["instruction_difficulty"].to_numpy(float), index=first["index"].to_numpy())
    if n_models < 2:
        raise RankingError(
            "instruction_difficulty: not given, and a joint estimate needs annotations of several models "
            "(a 'generator_2' column) judged on the same instructions; pass AlpacaEval's table or such "
            "annotations"
        )
    return instruction_difficulty_from(frame)
