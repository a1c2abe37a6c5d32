"""What work costs at AWS list prices: one pricing of a job's usage, shared by the record of a
job that ran (:meth:`squall.JobRecord.cost`) and the estimate of one that has not
(:meth:`squall.Estimate.cost`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import _native

#: AWS list prices in USD (us-east-1, x86_64); pass ``prices=`` to :meth:`JobRecord.cost` to
#: use others. S3 bills LIST like PUT, HEAD like GET, and DELETE not at all. A fast store is
#: priced as ElastiCache Serverless for Valkey: an ECPU per request and kilobyte moved, and
#: the data it holds by the GB-hour.
PRICES: dict[str, float] = dict(_native.PRICES)

#: Memory (MB) assumed for Lambda when pricing a job, unless the session or the call says.
DEFAULT_MEMORY_MB = 2048

#: Hours in the month that S3 prices storage by.
_MONTH_HOURS = 730


@dataclass
class Cost:
    """An estimate of what a job costs on AWS Lambda and S3."""

    #: Function invocations (every attempt, retries and backups included).
    invocations: int
    #: Billed compute: attempt durations times the function's memory.
    gb_seconds: float
    #: Store requests: PUTs (and LISTs), GETs.
    s3_puts: int
    s3_gets: int
    s3_lists: int
    #: The memory the estimate assumes.
    memory_mb: int
    #: USD per item.
    usd: dict[str, float] = field(default_factory=dict)
    #: Requests to the session's fast store, and the bytes they moved.
    fast_requests: int = 0
    fast_bytes: int = 0

    @property
    def total_usd(self) -> float:
        """The whole estimate in USD."""
        return sum(self.usd.values())

    def __str__(self) -> str:
        lines = [
            f"{self.invocations:,} invocations, {self.gb_seconds:,.1f} GB-s at "
            f"{self.memory_mb} MB, S3: {self.s3_puts:,} PUT, {self.s3_gets:,} GET, "
            f"{self.s3_lists:,} LIST"
            + (
                f", fast store: {self.fast_requests:,} requests, {self.fast_bytes / 1e6:,.1f} MB"
                if self.fast_requests
                else ""
            ),
            *(f"  {k:<16} ${v:.6f}" for k, v in self.usd.items()),
            f"  {'total':<16} ${self.total_usd:.6f}",
        ]
        return "\n".join(lines)


@dataclass(frozen=True)
class Usage:
    """What a job used: its invocations, their seconds together, the store requests and bytes
    (``io_counts``' names), its wall time, the byte-seconds its intermediate objects were
    held in the store, and (when known) the share of ``io`` that touched the user's data (its
    input and written output) rather than intermediate objects."""

    invocations: int
    task_seconds: float
    io: dict[str, int]
    wall_seconds: float
    held_byte_seconds: float
    data: dict[str, int] | None = None

    def price(
        self,
        memory_mb: int | None,
        prices: dict[str, float] | None,
        architecture: str,
        store: str,
    ) -> Cost:
        """The usage priced for functions of ``memory_mb`` (default 2048) on ``architecture``
        (``"x86_64"`` or ``"arm64"``), the store priced as ``store`` (``"s3"`` or
        ``"s3_express"``: intermediate objects there, the user's data, when told apart, in S3
        Standard), at :data:`PRICES` overridden by ``prices``."""
        if architecture not in ("x86_64", "arm64") or store not in ("s3", "s3_express"):
            raise ValueError(
                f"architecture={architecture!r}, store={store!r}: use architecture 'x86_64' or "
                "'arm64', store 's3' or 's3_express'"
            )
        p = PRICES | (prices or {})
        memory = memory_mb or DEFAULT_MEMORY_MB
        io = self.io
        gb_s = self.task_seconds * memory / 1024
        puts, gets, lists = io["puts"], io["gets"], io["lists"]
        arm = "_arm64" if architecture == "arm64" else ""
        usd = {
            "lambda_requests": self.invocations * p["lambda_request"],
            "lambda_compute": gb_s * p[f"lambda_gb_second{arm}"],
        }
        held_gb_months = self.held_byte_seconds / 1e9 / 3600 / _MONTH_HOURS
        if store == "s3":
            usd["s3_requests"] = _standard(io, p)
            usd["s3_storage"] = held_gb_months * p["s3_gb_month"]
        else:  # a directory bucket prices LIST as a PUT
            data = self.data or dict.fromkeys(io, 0)
            scratch = {k: io[k] - data[k] for k in io}
            usd["s3_requests"] = (
                (scratch["puts"] + scratch["lists"]) * p["s3_express_put"]
                + scratch["gets"] * p["s3_express_get"]
                + _standard(data, p)
            )
            usd["s3_express_bytes"] = (
                scratch["bytes_written"] / 2**30 * p["s3_express_upload_gb"]
                + scratch["bytes_read"] / 2**30 * p["s3_express_retrieval_gb"]
            )
            usd["s3_storage"] = held_gb_months * p["s3_express_gb_month"]
        if io["fast_requests"]:
            # Each object is written and read about once, and held at most while the job runs.
            ecpus = io["fast_requests"] + io["fast_bytes"] / 1024
            held_gb_hours = io["fast_bytes"] / 2 / 1e9 * max(self.wall_seconds, 0.0) / 3600
            usd["fast_store"] = ecpus * p["fast_ecpu"] + held_gb_hours * p["fast_gb_hour"]
        fast = (io["fast_requests"], io["fast_bytes"])
        return Cost(self.invocations, gb_s, puts, gets, lists, memory, usd, *fast)


def _standard(io: dict[str, int], p: dict[str, float]) -> float:
    """``io``'s requests at S3 Standard's prices."""
    return io["puts"] * p["s3_put"] + io["gets"] * p["s3_get"] + io["lists"] * p["s3_list"]
