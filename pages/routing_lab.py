"""Routing lab: threshold sweep, A/B, estimates from live traffic, external benchmark. Layout only.

Tabs are lazy (``on_change="rerun"``): only the open tab queries the ledger or runs the benchmark.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import streamlit as st

from assistant.views import (
    default_ledger,
    diff_sorts,
    ipw_sentence,
    read_ab_runs,
    read_benchmark,
    read_compare_pairs,
    read_compare_runs,
    read_compare_thresholds,
    read_cross_suite,
    read_grid,
    read_ipw_curve,
    read_run_diff,
    read_sweep,
    read_sweep_runs,
    read_sweep_scenarios,
    sort_run_diff,
)

st.title("Routing lab")
ledger_path = st.session_state.get("wb.ledger") or default_ledger()
tenant = st.session_state.get("wb.tenant")

TABS = ("Threshold sweep", "A/B", "From live traffic", "External benchmark")


@st.cache_data(ttl=5, show_spinner=False)
def _runs(path: str, tenant: str | None):  # type: ignore[no-untyped-def]
    return read_sweep_runs(path, tenant)


@st.cache_data(ttl=5, show_spinner=False)
def _sweep(path: str, run_id: str, target: float, scenario: str = "measured"):  # type: ignore[no-untyped-def]
    return read_sweep(path, run_id, target, scenario=scenario)


@st.cache_data(ttl=5, show_spinner=False)
def _scenarios(path: str, run_id: str):  # type: ignore[no-untyped-def]
    return read_sweep_scenarios(path, run_id)


def _cost_choice(run_id: str, key: str) -> str:
    """Measured costs, or one of the price scenarios the run was projected under."""
    return str(
        st.selectbox(
            "Costs",
            _scenarios(ledger_path, run_id),
            key=key,
            help="measured: what the run's calls cost; a scenario: what the same traffic would "
            "cost on its cloud models (projected; quality stays as measured)",
        )
    )


@st.cache_data(ttl=5, show_spinner=False)
def _grid(path: str, run_id: str, target: float, budget: float | None):  # type: ignore[no-untyped-def]
    return read_grid(path, run_id, target, budget)


@st.cache_data(ttl=30, show_spinner="Bootstrapping the differences…")
def _compare_pairs(path: str, run_id: str, a: tuple[float, float], b: tuple[float, float]):  # type: ignore[no-untyped-def]
    return read_compare_pairs(path, run_id, a, b)


@st.cache_data(ttl=5, show_spinner=False)
def _ab_runs(path: str, tenant: str | None):  # type: ignore[no-untyped-def]
    return read_ab_runs(path, tenant)


@st.cache_data(ttl=30, show_spinner="Bootstrapping the differences…")
def _compare_runs(path: str, run_a: str, run_b: str):  # type: ignore[no-untyped-def]
    return read_compare_runs(path, run_a, run_b)


@st.cache_data(ttl=30, show_spinner="Bootstrapping the differences…")
def _compare_thresholds(path: str, run_id: str, a: float, b: float, scenario: str = "measured"):  # type: ignore[no-untyped-def]
    return read_compare_thresholds(path, run_id, a, b, scenario)


@st.cache_data(ttl=30, show_spinner="Weighting the explored requests…")
def _ipw(path: str, run_id: str, reference: str | None):  # type: ignore[no-untyped-def]
    return read_ipw_curve(path, run_id, reference)


@st.cache_data(show_spinner="Running every router on RouteLLM's per-prompt results…")
def _benchmark():  # type: ignore[no-untyped-def]
    return read_benchmark()


@st.cache_data(show_spinner="Fitting the routers on one suite, scoring them on the other…")
def _cross_suite():  # type: ignore[no-untyped-def]
    return read_cross_suite()


def _run_label(row: Any) -> str:
    threshold = getattr(row, "threshold", None)
    at = f" · threshold {threshold:.2f}" if threshold == threshold and threshold is not None else ""
    return f"{row.run_id} · {row.dataset_name or row.tenant}{at} · {row.requests} requests"


# --- Threshold sweep ---------------------------------------------------------------------------


def sweep_view() -> None:
    view = _runs(ledger_path, tenant)
    if view.data is None:
        st.info(view.message)
        return

    runs = view.data
    labels = {
        r.run_id: f"{r.run_id} · {r.dataset_name or r.tenant} · {r.requests} requests"
        for r in runs.itertuples()
    }
    left, right = st.columns([2, 1])
    run_id = left.selectbox(
        "Run with tier outcomes", list(labels), format_func=labels.__getitem__, key="lab.run"
    )
    target = right.slider(
        "Target: share of all-premium quality",
        min_value=0.5,
        max_value=1.0,
        value=0.95,
        step=0.01,
        format="percent",
        key="lab.target",
    )
    scenario = _cost_choice(run_id, "lab.scenario")
    sweep = _sweep(ledger_path, run_id, target, scenario)
    if sweep.data is None:
        st.warning(sweep.message)
        return

    data = sweep.data
    if data["recommended"] is None:
        st.warning(data["sentence"])
    else:
        st.success(data["sentence"])

    points = data["points"]
    tooltip = [
        alt.Tooltip("threshold:Q", format=".2f"),
        alt.Tooltip("premium_share:Q", format=".0%", title="premium share"),
        alt.Tooltip("mean_quality:Q", format=".3f", title="mean quality"),
        alt.Tooltip("cost_usd:Q", format="$.4f", title=data["cost_title"]),
        alt.Tooltip("p95_latency_ms:Q", format=".0f", title="p95 latency (ms)"),
    ]
    x = alt.X("cost_usd:Q", title=data["cost_title"], scale=alt.Scale(zero=False))
    y = alt.Y("mean_quality:Q", title="mean quality", scale=alt.Scale(zero=False))
    base = alt.Chart(points).encode(x=x, y=y, tooltip=tooltip)
    curve = base.mark_line(color="#bbbbbb").encode(order="threshold:Q")
    dots = base.mark_circle(size=60).encode(
        color=alt.Color(
            "front:N",
            title=None,
            scale=alt.Scale(domain=["Pareto", "dominated"], range=["#d62728", "#9e9e9e"]),
        )
    )
    best = base.transform_filter(alt.datum.recommended)
    marked = best.mark_point(
        shape="diamond", size=300, filled=False, color="#2ca02c", strokeWidth=3
    )
    label = best.mark_text(align="right", dx=-14, dy=0, color="#2ca02c").encode(text="label:N")

    share = (
        alt.Chart(points)
        .mark_line(color="#1f77b4")
        .encode(
            x=alt.X("threshold:Q", title="threshold"),
            y=alt.Y("premium_share:Q", title="premium share", axis=alt.Axis(format="%")),
            tooltip=tooltip,
        )
    )
    latency = (
        alt.Chart(points)
        .mark_line(color="#ff7f0e", strokeDash=[4, 3])
        .encode(
            x="threshold:Q",
            y=alt.Y("p95_latency_ms:Q", title="p95 latency (ms)", scale=alt.Scale(zero=False)),
            tooltip=tooltip,
        )
    )
    rule = alt.Chart(points).transform_filter(alt.datum.recommended).mark_rule(color="#2ca02c")
    rule = rule.encode(x="threshold:Q")

    cost_col, share_col = st.columns(2)
    with cost_col:
        st.subheader("Cost against quality")
        st.altair_chart(
            alt.layer(curve, dots, marked, label).properties(height=320), width="stretch"
        )
    with share_col:
        st.subheader("Premium share and p95 latency")
        st.altair_chart(
            alt.layer(share, latency, rule).resolve_scale(y="independent").properties(height=320),
            width="stretch",
        )
        st.caption("Solid: premium share (left axis). Dashed: p95 latency (right axis).")

    quality = " · ".join(
        f"{name} {value:.3f}"
        for name, value in (
            ("all-premium quality", data["premium_quality"]),
            ("all-cheap quality", data["cheap_quality"]),
        )
        if value is not None
    )
    quality += f" ({data['labelled']})"
    st.subheader("Sweep")
    st.caption(f"{data['requests']} requests · {quality} · every 0.05, plus the recommendation")
    st.dataframe(
        data["table"],
        hide_index=True,
        width="stretch",
        column_config={
            "threshold": st.column_config.NumberColumn("threshold", format="%.2f"),
            "premium_share": st.column_config.ProgressColumn(
                "premium share", min_value=0.0, max_value=1.0, format="percent"
            ),
            "mean_quality": st.column_config.NumberColumn("mean quality", format="%.3f"),
            "labelled": st.column_config.NumberColumn(
                "labelled", help="requests whose answer at this threshold has a known quality"
            ),
            "total_cost_usd": st.column_config.NumberColumn("run cost", format="$%.6f"),
            "cost_per_media_hour_usd": st.column_config.NumberColumn(
                "cost / media hour", format="$%.4f"
            ),
            "p95_latency_ms": st.column_config.NumberColumn("p95 latency", format="%.0f ms"),
        },
    )
    _grid_view(run_id, target)


def _grid_view(run_id: str, target: float) -> None:
    """The (vision threshold, LLM threshold) grid of a run with the four combinations of tiers."""
    st.subheader("Vision and LLM thresholds")
    budget = st.number_input(
        "Budget (USD per media hour, 0: none)",
        min_value=0.0,
        value=0.0,
        step=0.001,
        format="%.4f",
        key="lab.grid.budget",
    )
    view = _grid(ledger_path, run_id, target, float(budget) or None)
    if view.data is None:
        st.caption(view.message)
        return
    data = view.data
    (st.success if data["recommended"] is not None else st.warning)(data["sentence"])
    if data["budget_sentence"]:
        (st.success if data["best_in_budget"] is not None else st.warning)(data["budget_sentence"])
    points = data["points"]
    tooltip = [
        alt.Tooltip("vision_threshold:Q", format=".2f", title="vision threshold"),
        alt.Tooltip("llm_threshold:Q", format=".2f", title="LLM threshold"),
        alt.Tooltip("mean_quality:Q", format=".3f", title="mean quality"),
        alt.Tooltip("cost_usd:Q", format="$.4f", title=data["cost_title"]),
        alt.Tooltip("vision_premium_share:Q", format=".0%", title="premium readings"),
        alt.Tooltip("llm_premium_share:Q", format=".0%", title="premium answers"),
        alt.Tooltip("p95_latency_ms:Q", format=".0f", title="p95 latency (ms)"),
    ]
    heat_col, front_col = st.columns(2)
    heat = (
        alt.Chart(points)
        .mark_rect()
        .encode(
            x=alt.X("llm_threshold:O", title="LLM threshold", axis=alt.Axis(format=".2f")),
            y=alt.Y(
                "vision_threshold:O",
                title="vision threshold",
                sort="descending",
                axis=alt.Axis(format=".2f"),
            ),
            color=alt.Color("mean_quality:Q", title="mean quality"),
            tooltip=tooltip,
        )
    )
    marks = (
        alt.Chart(points)
        .transform_filter(alt.datum.front == "Pareto")
        .mark_point(shape="circle", color="#d62728", filled=False)
        .encode(x="llm_threshold:O", y=alt.Y("vision_threshold:O", sort="descending"))
    )
    st.caption(
        "Pareto pairs below: one per distinct cost and quality (many pairs route alike), with "
        "the highest thresholds."
    )
    with heat_col:
        st.caption(
            f"Mean quality per pair; red rings: the Pareto set · {data['screen_requests']} "
            f"of {data['requests']} requests need the screen"
        )
        st.altair_chart(alt.layer(heat, marks).properties(height=360), width="stretch")
    scatter = (
        alt.Chart(points)
        .mark_circle(size=40)
        .encode(
            x=alt.X("cost_usd:Q", title=data["cost_title"], scale=alt.Scale(zero=False)),
            y=alt.Y("mean_quality:Q", title="mean quality", scale=alt.Scale(zero=False)),
            color=alt.Color(
                "front:N",
                title=None,
                scale=alt.Scale(domain=["Pareto", "dominated"], range=["#d62728", "#c7c7c7"]),
            ),
            tooltip=tooltip,
        )
    )
    layers = [scatter]
    if budget:
        layers.append(alt.Chart().mark_rule(color="#2ca02c").encode(x=alt.datum(float(budget))))
    with front_col:
        st.caption("Every pair's cost against quality" + (" · green: the budget" if budget else ""))
        st.altair_chart(alt.layer(*layers).properties(height=360), width="stretch")
    st.dataframe(
        points[points["distinct"]].drop(
            columns=["front", "cost_usd", "best_in_budget", "distinct"]
        ),
        hide_index=True,
        width="stretch",
    )


# --- A/B ---------------------------------------------------------------------------------------

FORMATS = {  # (Python format, d3 format)
    "cost_per_media_hour_usd": (",.5f", "$,.5f"),
    "mean_quality": (".3f", ".3f"),
    "p95_latency_ms": (",.0f", ",.0f"),
}


def _ab_result(result: Any) -> None:
    """Headline deltas, the statement, one interval chart per metric and the table."""
    table = result.table()
    (st.success if table["excludes_zero"].all() else st.info)(result.statement)
    st.caption(
        f"A = {result.a_label} · B = {result.b_label} · {result.pairing} · {result.labelled}"
    )
    columns = st.columns(len(table))
    for column, row in zip(columns, table.itertuples(), strict=True):
        fmt, d3 = FORMATS.get(row.metric, (".4g", ".4g"))
        value = "n/a" if row.b is None or row.b != row.b else format(row.b, fmt)
        delta = None if row.diff is None or row.diff != row.diff else format(row.diff, "+" + fmt)
        lower_better = row.metric != "mean_quality"
        column.metric(
            f"B: {row.title}",
            value,
            delta,
            delta_color="inverse" if lower_better else "normal",
            help=f"A: {'n/a' if row.a is None or row.a != row.a else format(row.a, fmt)}. "
            f"{row.verdict}",
        )
        shown = table[table["metric"] == row.metric].dropna(subset=["low", "high"])
        if shown.empty:
            column.caption(row.verdict)
            continue
        base = alt.Chart(shown)
        x = alt.X("low:Q", title=f"B − A ({row.title})", axis=alt.Axis(format=d3))
        span = base.mark_rule(strokeWidth=4, color="#1f77b4").encode(x=x, x2="high:Q")
        dot = base.mark_circle(size=120, color="#d62728").encode(
            x="diff:Q",
            tooltip=[
                alt.Tooltip("diff:Q", title="B − A", format=d3),
                alt.Tooltip("low:Q", title="95% low", format=d3),
                alt.Tooltip("high:Q", title="95% high", format=d3),
            ],
        )
        zero = base.mark_rule(color="#555555", strokeDash=[4, 3]).encode(x=alt.datum(0))
        column.altair_chart(alt.layer(span, dot, zero).properties(height=90), width="stretch")
        column.caption(row.verdict)
    st.dataframe(
        table.drop(columns=["metric"]),
        hide_index=True,
        width="stretch",
        column_config={
            "title": st.column_config.TextColumn("metric"),
            "a": st.column_config.NumberColumn("A", format="%.5g"),
            "b": st.column_config.NumberColumn("B", format="%.5g"),
            "diff": st.column_config.NumberColumn("B − A", format="%.5g"),
            "low": st.column_config.NumberColumn("95% low", format="%.5g"),
            "high": st.column_config.NumberColumn("95% high", format="%.5g"),
            "sd": st.column_config.NumberColumn("bootstrap sd", format="%.3g"),
            "excludes_zero": st.column_config.CheckboxColumn("excludes 0"),
            "needed_n": st.column_config.NumberColumn(
                "needed per arm", help="for an interval that excludes 0 at this effect size"
            ),
            "verdict": st.column_config.TextColumn("verdict", width="large"),
        },
    )


def ab_view() -> None:
    mode = st.radio(
        "Compare",
        [
            "Two runs",
            "Two thresholds on one --both-tiers run",
            "Two threshold pairs (vision, LLM) on one --both-tiers run",
        ],
        horizontal=True,
        key="lab.ab.mode",
    )
    if mode.startswith("Two threshold pairs"):
        _ab_pairs_view()
        return
    if mode == "Two runs":
        view = _ab_runs(ledger_path, tenant)
        if view.data is None:
            st.info(view.message)
            return
        runs = view.data
        if len(runs) < 2:
            st.info(
                f"Only one run ({runs['run_id'][0]}) has requests. Replay another to compare: "
                "`python -m assistant replay datasets/demo --stt recorded --threshold 0.6`."
            )
            return
        labels = {r.run_id: _run_label(r) for r in runs.itertuples()}
        ids = list(labels)
        left, right = st.columns(2)
        run_a = left.selectbox(
            "A (baseline)", ids, index=1, format_func=labels.__getitem__, key="lab.ab.a"
        )
        run_b = right.selectbox(
            "B (candidate)", ids, index=0, format_func=labels.__getitem__, key="lab.ab.b"
        )
        if run_a == run_b:
            st.info("Pick two different runs.")
            return
        result = _compare_runs(ledger_path, run_a, run_b)
        if result.data is None:
            st.warning(result.message)
            return
        _ab_result(result.data)
        st.caption(
            "Cost per media hour counts the tier each request took plus the run's transcription "
            "(for a --both-tiers run, not the counterfactual calls)."
        )
        _run_diff(run_a, run_b)
        return

    view = _runs(ledger_path, tenant)
    if view.data is None:
        st.info(view.message)
        return
    labels = {r.run_id: _run_label(r) for r in view.data.itertuples()}
    left, mid, right = st.columns([2, 1, 1])
    run_id = left.selectbox(
        "Run with tier outcomes", list(labels), format_func=labels.__getitem__, key="lab.ab.run"
    )
    threshold_a = mid.number_input(
        "Threshold A", min_value=0.0, max_value=1.0, value=0.3, step=0.05, key="lab.ab.ta"
    )
    threshold_b = right.number_input(
        "Threshold B", min_value=0.0, max_value=1.0, value=0.6, step=0.05, key="lab.ab.tb"
    )
    scenario = _cost_choice(run_id, "lab.ab.scenario")
    result = _compare_thresholds(
        ledger_path, run_id, float(threshold_a), float(threshold_b), scenario
    )
    if result.data is None:
        st.warning(result.message)
        return
    _ab_result(result.data)
    st.caption(
        "Both thresholds are judged on the same requests from their recorded outcomes: no model "
        "is called, and pairing by request removes the questions' own variance."
    )


@st.cache_data(ttl=30, show_spinner=False)
def _diff(path: str, run_a: str, run_b: str):  # type: ignore[no-untyped-def]
    return read_run_diff(path, run_a, run_b)


def _run_diff(run_a: str, run_b: str) -> None:
    """The same questions of A and B side by side, sortable by the change in quality or cost."""
    st.subheader("Per question: B beside A")
    view = _diff(ledger_path, run_a, run_b)
    if view.data is None or view.data.table.empty:
        st.info(view.message or view.data.summary())
        return
    st.caption(view.data.summary())
    sort = st.selectbox("Sort by", diff_sorts(), key="lab.ab.diff_sort")
    money = st.column_config.NumberColumn(format="$%.6f")
    st.dataframe(
        sort_run_diff(view.data.table, sort),
        hide_index=True,
        width="stretch",
        column_config={c: money for c in ("cost_usd_a", "cost_usd_b", "cost_change_usd")},
    )


def _ab_pairs_view() -> None:
    view = _runs(ledger_path, tenant)
    if view.data is None:
        st.info(view.message)
        return
    labels = {r.run_id: _run_label(r) for r in view.data.itertuples()}
    run_id = st.selectbox(
        "Run with tier outcomes", list(labels), format_func=labels.__getitem__, key="lab.ab.prun"
    )
    cols = st.columns(4)
    pairs = []
    for arm, column, (v, t) in zip(
        ("A", "B"), (cols[:2], cols[2:]), ((0.3, 0.3), (1.0, 0.3)), strict=True
    ):
        pairs.append(
            (
                float(
                    column[0].number_input(
                        f"{arm}: vision threshold", 0.0, 1.0, v, 0.05, key=f"lab.ab.{arm}v"
                    )
                ),
                float(
                    column[1].number_input(
                        f"{arm}: LLM threshold", 0.0, 1.0, t, 0.05, key=f"lab.ab.{arm}l"
                    )
                ),
            )
        )
    result = _compare_pairs(ledger_path, run_id, pairs[0], pairs[1])
    if result.data is None:
        st.warning(result.message)
        return
    _ab_result(result.data)
    st.caption(
        "Each request takes the outcome its pair picks: premium answer when its score reaches "
        "the LLM threshold, premium screen reading when it needs the screen and its vision "
        "score reaches the vision threshold. No model is called."
    )


# --- From live traffic -------------------------------------------------------------------------


def live_view() -> None:
    view = _ab_runs(ledger_path, tenant)
    if view.data is None:
        st.info(view.message)
        return
    runs = view.data
    labels = {
        r.run_id: f"{_run_label(r)} · {r.explored} explored"
        for r in runs.sort_values("explored", ascending=False, kind="stable").itertuples()
    }
    references = _runs(ledger_path, tenant)
    left, right = st.columns(2)
    run_id = left.selectbox(
        "Logged run", list(labels), format_func=labels.__getitem__, key="lab.live.run"
    )
    reference = None
    if references.data is not None:
        dataset = runs.loc[runs["run_id"] == run_id, "dataset_name"].iloc[0]
        same = references.data[references.data["dataset_name"] == dataset]
        options = [None, *same["run_id"]]
        reference = right.selectbox(
            "Check against a --both-tiers run of the same dataset",
            options,
            index=1 if len(options) > 1 else 0,
            format_func=lambda r: "none" if r is None else r,
            key="lab.live.reference",
        )
    result = _ipw(ledger_path, run_id, reference)
    if result.data is None:
        st.warning(result.message)
        return
    curve = result.data
    if curve.points is None:
        st.info(curve.message)
        return
    points = curve.points
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Requests", curve.rows)
    m2.metric("Routed at random", curve.explored)
    m3.metric(
        "Logged threshold",
        "n/a" if curve.logged_threshold is None else f"{curve.logged_threshold:.2f}",
    )
    m4.metric(
        "Logged mean quality",
        "n/a" if curve.logged_quality is None else f"{curve.logged_quality:.3f}",
    )
    st.info(ipw_sentence(curve))

    tooltip = [
        alt.Tooltip("threshold:Q", format=".2f"),
        alt.Tooltip("premium_share:Q", format=".0%", title="premium share"),
        alt.Tooltip("quality:Q", format=".3f", title="estimated quality"),
        alt.Tooltip("quality_low:Q", format=".3f", title="95% low"),
        alt.Tooltip("quality_high:Q", format=".3f", title="95% high"),
        alt.Tooltip("effective_n:Q", format=".1f", title="effective n"),
    ]
    has_truth = "true_quality" in points
    quality_col, cost_col = st.columns(2)
    for column, value, low, high, truth, title, fmt in (
        (
            quality_col,
            "quality",
            "quality_low",
            "quality_high",
            "true_quality",
            "mean quality",
            ".2f",
        ),
        (
            cost_col,
            "cost_per_media_hour_usd",
            "cost_per_media_hour_low",
            "cost_per_media_hour_high",
            "true_cost_per_media_hour_usd",
            "cost per media hour (USD)",
            "$.4f",
        ),
    ):
        base = alt.Chart(points).encode(x=alt.X("threshold:Q", title="threshold"))
        band = base.mark_area(opacity=0.25, color="#1f77b4").encode(
            y=alt.Y(f"{low}:Q", title=title, axis=alt.Axis(format=fmt)), y2=f"{high}:Q"
        )
        line = base.mark_line(point=True, color="#1f77b4").encode(y=f"{value}:Q", tooltip=tooltip)
        layers = [band, line]
        if has_truth:
            layers.append(base.mark_line(color="#2ca02c", strokeDash=[5, 3]).encode(y=f"{truth}:Q"))
        if curve.logged_threshold is not None:
            layers.append(
                alt.Chart().mark_rule(color="#999999").encode(x=alt.datum(curve.logged_threshold))
            )
        with column:
            st.subheader("Estimated " + title)
            st.altair_chart(alt.layer(*layers).properties(height=300), width="stretch")
    st.caption(
        "Blue: IPW estimate with its 95% band. "
        + ("Green dashed: the true figure from the --both-tiers run. " if has_truth else "")
        + "Grey rule: the threshold the traffic was logged at."
    )
    st.dataframe(
        points,
        hide_index=True,
        width="stretch",
        column_config={
            "threshold": st.column_config.NumberColumn("threshold", format="%.2f"),
            "premium_share": st.column_config.ProgressColumn(
                "premium share", min_value=0.0, max_value=1.0, format="percent"
            ),
            "quality": st.column_config.NumberColumn("quality (IPW)", format="%.3f"),
            "quality_low": st.column_config.NumberColumn("95% low", format="%.3f"),
            "quality_high": st.column_config.NumberColumn("95% high", format="%.3f"),
            "cost_usd": st.column_config.NumberColumn("cost / request", format="$%.7f"),
            "cost_per_media_hour_usd": st.column_config.NumberColumn(
                "cost / media hour (IPW)", format="$%.4f"
            ),
            "cost_per_media_hour_low": st.column_config.NumberColumn("95% low", format="$%.4f"),
            "cost_per_media_hour_high": st.column_config.NumberColumn("95% high", format="$%.4f"),
            "matched": st.column_config.NumberColumn("matched rows"),
            "effective_n": st.column_config.NumberColumn("effective n", format="%.1f"),
            "true_quality": st.column_config.NumberColumn("true quality", format="%.3f"),
            "true_cost_per_media_hour_usd": st.column_config.NumberColumn(
                "true cost / media hour", format="$%.4f"
            ),
        },
    )


# --- External benchmark ------------------------------------------------------------------------


def benchmark_view() -> None:
    st.caption(
        "RouteLLM's per-prompt results (GPT-4 vs Mixtral; Apache-2.0): each router ranks the "
        "prompts, the top share goes to the strong model. Random routing recovers half the gap "
        "(APGR 0.5); the oracle knows each prompt's true gain."
    )
    view = _benchmark()
    if view.data is None:
        st.info(view.message)
        return
    bench = view.data
    colors = alt.Scale(
        domain=["length", "heuristic", "learned", "text", "random", "oracle"],
        range=["#ff7f0e", "#1f77b4", "#9467bd", "#d62728", "#7f7f7f", "#2ca02c"],
    )
    columns = st.columns(len(bench.suites))
    for column, suite in zip(columns, bench.suites, strict=True):
        curves = bench.curves[bench.curves["suite"] == suite]
        rows = bench.table[bench.table["suite"] == suite]
        apgr = dict(zip(rows["router"], rows["apgr"], strict=True))
        chart = (
            alt.Chart(curves)
            .mark_line()
            .encode(
                x=alt.X(
                    "premium_share:Q",
                    title="share sent to the strong model",
                    axis=alt.Axis(format="%"),
                ),
                y=alt.Y("quality:Q", title="mean quality", scale=alt.Scale(zero=False)),
                color=alt.Color("router:N", scale=colors, title="router"),
                strokeDash=alt.condition(
                    alt.FieldOneOfPredicate("router", ["random", "oracle"]),
                    alt.value([5, 3]),
                    alt.value([1, 0]),
                ),
                tooltip=[
                    "router:N",
                    alt.Tooltip("premium_share:Q", format=".0%", title="strong share"),
                    alt.Tooltip("quality:Q", format=".3f"),
                ],
            )
            .properties(height=320)
        )
        with column:
            st.subheader(f"{suite} · {rows['items'].iloc[0]} prompts")
            st.altair_chart(chart, width="stretch")
            st.caption(" · ".join(f"{name} APGR {value:.3f}" for name, value in apgr.items()))
    metric_columns = {
        "apgr": st.column_config.NumberColumn("APGR", format="%.3f"),
        "apgr_sd": st.column_config.NumberColumn(
            "APGR sd", format="%.3f", help="random: sd over the seeded draws"
        ),
        "cpt50": st.column_config.NumberColumn("CPT(50%)", format="%.3f"),
        "cpt80": st.column_config.NumberColumn("CPT(80%)", format="%.3f"),
        "weak_mean": st.column_config.NumberColumn("weak mean", format="%.3f"),
        "strong_mean": st.column_config.NumberColumn("strong mean", format="%.3f"),
        "trained_on": st.column_config.TextColumn(
            "fitted on", help="learned and text: the suites they were trained on"
        ),
        "in_sample": st.column_config.CheckboxColumn(
            "in-sample", help="heuristic: its hand weights were chosen with this suite in view"
        ),
    }
    in_suite, cross = st.columns(2)
    with in_suite:
        st.subheader("In-suite")
        st.caption("Each suite on its own; learned and text held out by 5-fold CV inside it.")
        st.dataframe(
            bench.table.drop(columns=["weak_mean", "strong_mean"]),
            hide_index=True,
            width="stretch",
            column_config=metric_columns,
        )
    with cross:
        st.subheader("Cross-suite")
        st.caption(
            "Each suite held out in turn: learned and text fitted on the other suites only, as "
            "a new user's data would meet them."
        )
        held_out = _cross_suite()
        if held_out.data is None:
            st.info(held_out.message)
        else:
            st.dataframe(
                held_out.data, hide_index=True, width="stretch", column_config=metric_columns
            )
    st.caption(
        "APGR: area under the quality curve as a share of the weak→strong gap. CPT(x): the "
        "smallest strong share recovering x of the gap. The heuristic's hand weights were chosen "
        "with gsm8k and mtbench in view, so its figures there are in-sample in both tables. Also "
        "on the command line: `python -m assistant routing-bench datasets/routellm/*.csv`."
    )


sweep_tab, ab_tab, live_tab, bench_tab = st.tabs(TABS, key="lab.tab", on_change="rerun")
for tab, view_fn in (
    (sweep_tab, sweep_view),
    (ab_tab, ab_view),
    (live_tab, live_view),
    (bench_tab, benchmark_view),
):
    if tab.open:
        with tab:
            view_fn()
