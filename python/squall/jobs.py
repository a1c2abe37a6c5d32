"""What a job did: one row per task attempt, a summary, a timeline plot and a cost estimate.

``squall.last_job()`` (or ``Session.last_job``, or ``FutureList.job``) is the record of the
latest ``map``, ``submit`` or dataset action. Its ``stats`` has one row per attempt; ``timeline()``
draws the attempts per worker over time; ``cost()`` prices the job at AWS list prices, also on the
local backend (what the same work would cost on Lambda).
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

from . import _native
from .pricing import DEFAULT_MEMORY_MB, PRICES, Cost, Usage

if TYPE_CHECKING:
    import pyarrow as pa
    from matplotlib.figure import Figure

_COLUMNS = (
    "task", "attempt", "worker", "cold_start", "backup", "queued", "started", "finished",
    "outcome", "error",
)  # fmt: skip
_IO = tuple(_native.IO_FIELDS)

#: The type of the times in `stats`, marked apart from the other columns.
_TIME = "timestamp"

_FAILED = ("lost", "timeout", "throttled", "service", "spawn", "setup")


class Summary(str):
    """A job's summary: a ``str`` whose repr is the text itself, so that a notebook cell
    ending in ``job.summary()`` shows it once, as it reads."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(self)}</pre>"


class JobRecord:
    """The attempts of one ``map``/``submit`` call or one dataset action, stage by stage."""

    def __init__(
        self,
        label: str,
        backend: str = "local",
        memory_mb: int | None = None,
        budget: int | None = None,
    ) -> None:
        self.label = label
        self.backend = backend
        self.memory_mb = memory_mb
        #: The session's memory budget in bytes, for a dataset action (``memory_limit``).
        self.budget = budget
        self._stages: list[tuple[str, _native.Job]] = []
        self._driver_start = _native.io_counts()
        self._driver_io: tuple[int, ...] | None = None
        # The share of the requests on the user's data, when known (a simulated job's).
        self._data_io: dict[str, int] | None = None

    def __repr__(self) -> str:
        return f"<squall.JobRecord {self.label}: {len(self._stages)} stage(s)>"

    def _add_stage(self, name: str, job: _native.Job) -> None:
        self._stages.append((name, job))

    def _close(self, driver_io: list[int] | None = None) -> None:
        """Ends the driver's share of the job: ``driver_io``, the requests a dataset's driver
        counted on its own thread, or else this process's since the record began."""
        now = _native.io_counts()
        diff = [a - b for a, b in zip(now, self._driver_start, strict=True)]
        self._driver_io = tuple(diff if driver_io is None else driver_io)

    def _rows(self) -> list[dict[str, Any]]:
        rows = []
        for stage, job in self._stages:
            for a in job.attempts():
                row = {"stage": stage, "job": job.id} | dict(zip(_COLUMNS, a[:10], strict=True))
                row |= dict(zip(_IO, a[10], strict=True))
                row["peak_rss"], row["output"] = a[11]
                rows.append(row)
        return rows

    @property
    def stats(self) -> pa.Table:
        """One row per finished attempt: stage, task, attempt, worker, cold_start, backup,
        queued/started/finished (UTC timestamps), duration (seconds), outcome ("ok", "raised",
        "lost", "timeout", "throttled", "service", "superseded", "cancelled", ...), error, and the
        attempt's store requests and bytes (puts, gets, lists, deletes, bytes_read,
        bytes_written; fast_requests and fast_bytes for a fast store), and peak_rss: the peak
        resident bytes while it ran (its worker process's high-water mark; for a stage on your
        process's threads, your process's resident size sampled every 20 ms; 0 when not
        measured), and output: the last lines the attempt printed (up to 20 lines, 4 KB; local
        workers only). ``.to_pandas()`` gives a DataFrame.

        Example:
            >>> squall.last_job().stats.to_pandas().groupby("stage").duration.max()
        """
        import pyarrow as pa

        rows = self._rows()
        types = {
            "stage": pa.string(), "task": pa.int64(), "attempt": pa.int64(),
            "worker": pa.string(), "cold_start": pa.bool_(), "backup": pa.bool_(),
            "queued": _TIME, "started": _TIME, "finished": _TIME,
            "duration": pa.float64(), "outcome": pa.string(), "error": pa.string(),
        } | {k: pa.int64() for k in (*_IO, "peak_rss")} | {"output": pa.string()}  # fmt: skip
        for r in rows:
            r["duration"] = r["finished"] - r["started"]
        columns = {}
        for k, t in types.items():
            if t is _TIME:  # seconds since the epoch, as UTC timestamps
                micros = pa.array([round(r[k] * 1e6) for r in rows], type=pa.int64())
                columns[k] = micros.cast(pa.timestamp("us", tz="UTC"))
            else:
                columns[k] = pa.array([r[k] for r in rows], type=t)
        return pa.table(columns)

    def summary(self) -> Summary:
        """Totals per stage and for the job: text that a notebook shows once (and ``print``
        prints).

        Example:
            >>> print(squall.last_job().summary())
        """
        rows = self._rows()
        budget = f", memory budget {self.budget / 1e6:,.0f} MB" if self.budget else ""
        lines = [f"{self.label} on {self.backend}{budget}"]
        for stage in dict.fromkeys(r["stage"] for r in rows):
            part = [r for r in rows if r["stage"] == stage]
            lines.append("  " + _describe(stage, part))
        if len(self._stages) > 1:
            lines.append("  " + _describe("all stages", rows))
        path = self.critical_path()
        if path is not None:
            tasks, seconds = path
            lines.append(f"  critical path: {tasks} tasks in a row, {seconds:.2f} s in them")
        return Summary("\n".join(lines))

    def critical_path(self) -> tuple[int, float] | None:
        """The longest chain of tasks of this job that each took the one before's result (a
        task graph's): how many tasks, and the seconds their successful attempts ran; None
        when no task took another's result.

        Example:
            >>> L = BlockMatrix.from_numpy(a, block=1000).cholesky()
            >>> L.job.critical_path()
            (10, 4.2)
        """
        edges: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for _, job in self._stages:
            for task, inputs in enumerate(job.inputs()):
                edges[(job.id, task)] = [tuple(i) for i in inputs]  # type: ignore[misc]
        if not edges:
            return None
        rows = [r for r in self._rows() if r["outcome"] == "ok"]
        ran = {(r["job"], r["task"]): r["finished"] - r["started"] for r in rows}
        best: dict[tuple[int, int], tuple[int, float]] = {}
        for node in sorted(ran):  # a task's inputs were submitted before it: lower job ids
            before = [best[i] for i in edges.get(node, ()) if i in best]
            tasks, seconds = max(before, default=(0, 0.0), key=lambda b: b[1])
            best[node] = (tasks + 1, seconds + ran[node])
        return max(best.values(), key=lambda b: b[1]) if best else None

    def cost(
        self,
        memory_mb: int | None = None,
        prices: dict[str, float] | None = None,
        *,
        architecture: str = "x86_64",
        store: str = "s3",
    ) -> Cost:
        """What the job costs (or would cost) on AWS Lambda and S3 (and ElastiCache Serverless,
        for a fast store), at list prices.

        Args:
            memory_mb: The function's memory; default the session's, else 2048 MB.
            prices: Prices overriding :data:`PRICES` (same keys).
            architecture: The functions' ``"x86_64"`` or ``"arm64"`` (a fifth cheaper per
                GB-s).
            store: Price the store's requests as ``"s3"`` (S3 Standard) or ``"s3_express"``
                (S3 Express One Zone: cheaper requests, plus a fee per GB moved; a simulated
                job's input and output stay priced as S3 Standard).

        Example:
            >>> print(squall.last_job().cost(memory_mb=4096))
        """
        # Lambda bills no throttled invocation.
        rows = [r for r in self._rows() if r["outcome"] != "throttled"]
        seconds = sum(max(r["finished"] - r["started"], 0.001) for r in rows)
        driver = dict(zip(_IO, self._driver_io or (0,) * len(_IO), strict=True))
        io = {k: sum(r[k] for r in rows) + driver[k] for k in _IO}
        wall = max(r["finished"] for r in rows) - min(r["started"] for r in rows) if rows else 0.0
        # Intermediate objects (all but the last stage's) are held until the job ends.
        last = rows[-1]["stage"] if rows else None
        end = max((r["finished"] for r in rows), default=0.0)
        held = sum(r["bytes_written"] * (end - r["finished"]) for r in rows if r["stage"] != last)
        usage = Usage(len(rows), seconds, io, wall, held, self._data_io)
        return usage.price(memory_mb or self.memory_mb, prices, architecture, store)

    def timeline(self, path: str | None = None, *, ax: Any = None) -> Figure:
        """Draws every attempt as a bar on its worker's row over time (matplotlib).

        Backups are hatched; stragglers (attempts that got a backup, or that ran over 3x their
        stage's median, cold starts aside) have a red edge; cold starts are dotted; failed
        attempts are orange, your exceptions red, superseded and cancelled ones grey. A line
        above the rows spans each stage. With ``path``, the figure is also saved (PNG).

        Example:
            >>> squall.last_job().timeline("timeline.png")
        """
        try:
            import matplotlib

            if ax is None and path is not None:
                matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
            from matplotlib.collections import PolyCollection
            from matplotlib.patches import Patch
        except ImportError as exc:
            raise ImportError(
                "job.timeline() draws with matplotlib: pip install matplotlib"
            ) from exc
        rows = self._rows()
        lanes = sorted({_lane(r["worker"]) for r in rows})
        stages = list(dict.fromkeys(r["stage"] for r in rows))
        if ax is None:
            height = min(1.5 + 0.3 * (len(lanes) + len(stages)), 12)
            fig, ax = plt.subplots(figsize=(11, height))
        else:
            fig = ax.figure
        t0 = min((r["started"] for r in rows), default=0.0)
        lane = {w: i for i, w in enumerate(lanes)}
        medians = {
            s: statistics.median(r["finished"] - r["started"] for r in rows if r["stage"] == s)
            for s in stages
        }
        backed_up = {(r["job"], r["task"]) for r in rows if r["backup"]}
        colors = {"ok": "tab:green", "raised": "tab:red", "superseded": "0.7", "cancelled": "0.85"}
        # One collection per hatch, not one artist per attempt: 2,000 attempts draw at once.
        bars: dict[str, tuple[list[Any], list[str], list[str], list[float]]] = {}
        for r in rows:
            x = r["started"] - t0
            width = max(r["finished"] - r["started"], 1e-3)
            y = lane[_lane(r["worker"])]
            straggler = (r["job"], r["task"]) in backed_up and not r["backup"]
            slow = width > 3 * medians[r["stage"]] and width > 0.05 and not r["cold_start"]
            straggler |= slow
            hatch = ("//" if r["backup"] else "") + (".." if r["cold_start"] else "")
            verts, faces, edges, widths = bars.setdefault(hatch, ([], [], [], []))
            verts.append([(x, y - 0.4), (x + width, y - 0.4), (x + width, y + 0.4), (x, y + 0.4)])
            faces.append(colors.get(r["outcome"], "tab:orange"))
            edges.append("tab:red" if straggler else "black")
            widths.append(2.0 if straggler else 0.3)
        for hatch, (verts, faces, edges, widths) in bars.items():
            ax.add_collection(
                PolyCollection(
                    verts,
                    facecolors=faces,
                    edgecolors=edges,
                    linewidths=widths,
                    hatch=hatch or None,
                )
            )
        # Each stage's span, on its own row above the workers.
        end = max((r["finished"] - t0 for r in rows), default=1.0)
        for k, stage in enumerate(stages):
            mine = [r for r in rows if r["stage"] == stage]
            start = min(r["started"] for r in mine) - t0
            stop = max(r["finished"] for r in mine) - t0
            y = len(lanes) + k
            color = _STAGE_COLORS[k % len(_STAGE_COLORS)]
            ax.hlines(y, start, max(stop, start + end / 200), color=color, linewidth=4)
            ax.text(start, y + 0.25, stage, fontsize="small", va="bottom")
        ax.set_xlim(0, end * 1.02 or 1.0)
        ax.set_ylim(-0.7, len(lanes) + len(stages) + 0.2)
        ax.set_yticks(range(len(lanes)), lanes)
        ax.set_xlabel("seconds since the first attempt started")
        title = f"{self.label}: {len(rows)} attempts on {len(lanes)} workers"
        ax.set_title(title + (f", {len(stages)} stages" if len(stages) > 1 else ""))
        legend = [
            Patch(facecolor="tab:green", label="ok"),
            Patch(facecolor="tab:orange", label="failed (retried)"),
            Patch(facecolor="tab:red", label="raised"),
            Patch(facecolor="0.7", label="superseded"),
            Patch(facecolor="white", edgecolor="black", hatch="//", label="backup"),
            Patch(facecolor="white", edgecolor="tab:red", linewidth=2, label="straggler"),
            Patch(facecolor="white", edgecolor="black", hatch="..", label="cold start"),
        ]
        # Outside the axes: it never hides bars.
        ax.legend(handles=legend, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=100)
        return fig


#: Stages' span lines: none of the outcomes' colors (green, orange, red, grey).
_STAGE_COLORS = ("tab:blue", "tab:purple", "tab:brown", "tab:cyan", "tab:pink", "tab:olive")


def _lane(worker: str) -> str:
    """A worker's row label: a Lambda execution environment's log stream
    (``2026/12/03/[$LATEST]...4f9c0123``) by its last eight characters (a SnapStart
    environment's restore id, when it has one)."""
    if not worker:
        return "(no answer)"
    if "]" in worker:
        return f"env {worker[-8:]}"
    return worker if len(worker) <= 24 else worker[:21] + "..."


def _describe(name: str, rows: list[dict[str, Any]]) -> str:
    tasks = {(r["job"], r["task"]) for r in rows}
    count = {k: sum(r["outcome"] == k for r in rows) for k in ("ok", "raised", "superseded")}
    failed = sum(r["outcome"] in _FAILED for r in rows)
    backups = sum(r["backup"] for r in rows)
    cold = sum(r["cold_start"] for r in rows)
    if rows:
        wall = max(r["finished"] for r in rows) - min(r["queued"] for r in rows)
        busy = sum(r["finished"] - r["started"] for r in rows)
    else:
        wall = busy = 0.0
    moved = sum(r["bytes_read"] + r["bytes_written"] for r in rows)
    peak = max((r["peak_rss"] for r in rows), default=0)
    return (
        f"{name}: {len(tasks)} tasks, {len(rows)} attempts ({count['ok']} ok, "
        f"{count['raised']} raised, {failed} failed and retried or lost, {backups} backups, "
        f"{count['superseded']} superseded), {cold} cold starts, {wall:.2f} s wall, "
        f"{busy:.2f} s in attempts, {moved / 1e6:.1f} MB moved, peak memory "
        f"{peak / 1e6:,.0f} MB"
    )


__all__ = ["DEFAULT_MEMORY_MB", "PRICES", "Cost", "JobRecord", "Summary"]
