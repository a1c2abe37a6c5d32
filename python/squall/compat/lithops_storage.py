"""Lithops' ``Storage`` and data-processing objects over squall's stores (see
:mod:`squall.compat.lithops`)."""

from __future__ import annotations

import functools
import io
import os
import tempfile
import uuid
from dataclasses import dataclass
from typing import Any

from .. import _native
from ..errors import StoreNotFoundError

#: Where the ``localhost`` backend keeps its buckets, as Lithops' localhost storage does.
LOCALHOST_ROOT = os.path.join(tempfile.gettempdir(), "squall-lithops-storage")

#: The bucket of cloud objects put without one, and of ``Storage()`` calls that name none.
DEFAULT_BUCKET = "storage"

#: Bytes read past a data-processing chunk's end per request while looking for its last newline.
_NEWLINE_LOOKAHEAD = 64 << 10


def _root_of(backend: str) -> str:
    if backend in ("localhost", "local", "file"):
        return f"file://{LOCALHOST_ROOT}"
    if backend in ("aws_s3", "s3"):
        return "s3://"
    raise ValueError(
        f"Storage backend={backend!r} is not available in squall: use 'localhost' (files under "
        f"{LOCALHOST_ROOT}) or 'aws_s3'"
    )


@dataclass(frozen=True)
class CloudObject:
    """A reference to an object that :meth:`Storage.put_cloudobject` wrote."""

    backend: str
    bucket: str
    key: str


class Storage:
    """Lithops' storage API (``put_object``, ``get_object``, ``list_keys``, cloud objects, ...)
    over squall's stores: ``backend="localhost"`` keeps buckets as directories on this machine,
    ``"aws_s3"`` uses S3 (LocalStack when ``AWS_ENDPOINT_URL`` says so); ``root`` (squall's
    own option) puts the buckets under another URL, e.g. ``"file:///scratch/lithops"``.

    Keys whose last part starts with ``_`` or ``.`` are not listed (squall's stores hide them).

    Example:
        >>> storage = Storage(backend="localhost")
        >>> storage.put_object("lab", "runs/1.txt", b"ok")
        >>> storage.list_keys("lab", prefix="runs/")
        ['runs/1.txt']
    """

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        backend: str | None = None,
        storage_config: dict[str, Any] | None = None,
        *,
        bucket: str | None = None,
        root: str | None = None,
        executor_id: str | None = None,
    ) -> None:
        config = {**(config or {}), **(storage_config or {})}
        lithops = config.get("lithops", {})
        self.backend = backend or lithops.get("storage") or "localhost"
        self.bucket = bucket or lithops.get("storage_bucket") or DEFAULT_BUCKET
        #: The URL under which buckets are (squall's own option; default by backend).
        root = root or _root_of(self.backend)
        self.root = root if root.endswith("://") else root.rstrip("/")
        self._executor_id = executor_id or "squall"

    def __reduce__(self) -> tuple[Any, ...]:
        # Travels to tasks: what it names, not what it holds.
        return (_rebuild, (self.backend, self.bucket, self.root, self._executor_id))

    def _url(self, bucket: str, key: str) -> str:
        if not bucket or "/" in bucket:
            raise ValueError(f"bucket={bucket!r}: give a bucket name without '/'")
        sep = "" if self.root.endswith("://") else "/"
        return f"{self.root}{sep}{bucket}/{key.lstrip('/')}"

    def put_object(self, bucket: str, key: str, body: bytes | str | Any) -> None:
        """Writes ``body`` (bytes, str or a readable file) as ``bucket/key``."""
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode()
        _native.write_bytes(self._url(bucket, key), bytes(body))

    def get_object(
        self,
        bucket: str,
        key: str,
        stream: bool = False,
        extra_get_args: dict[str, Any] | None = None,
    ) -> bytes | io.BytesIO:
        """Reads ``bucket/key``; ``extra_get_args={"Range": "bytes=0-99"}`` reads a range
        (both ends included); ``stream=True`` gives a file object."""
        url = self._url(bucket, key)
        byte_range = (extra_get_args or {}).get("Range")
        if byte_range:
            start, end = _parse_range(byte_range, url)
            if end is None:
                end = self._size(url)
            data = _native.read_range(url, start, end)
        else:
            data = _native.read_bytes(url)
        return io.BytesIO(data) if stream else data

    def upload_file(self, file_name: str, bucket: str, key: str | None = None) -> None:
        """Writes the local file ``file_name`` as ``bucket/key`` (key: the file's name)."""
        with open(file_name, "rb") as f:
            self.put_object(bucket, key or os.path.basename(file_name), f.read())

    def download_file(self, bucket: str, key: str, file_name: str | None = None) -> None:
        """Writes ``bucket/key`` to the local file ``file_name`` (default: the key's name)."""
        data = self.get_object(bucket, key)
        assert isinstance(data, bytes)
        with open(file_name or os.path.basename(key), "wb") as f:
            f.write(data)

    def _size(self, url: str) -> int:
        for found, size, _ in _native.resolve(url):
            if found == url:
                return size
        raise StoreNotFoundError(f"{url} does not exist")

    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        """The object's metadata: ``{"content-length": "<bytes>"}``."""
        return {"content-length": str(self._size(self._url(bucket, key)))}

    def delete_object(self, bucket: str, key: str) -> None:
        """Removes ``bucket/key`` (no error when it is absent)."""
        _native.delete([self._url(bucket, key)])

    def delete_objects(self, bucket: str, key_list: list[str]) -> None:
        """Removes each key of ``key_list`` in ``bucket``."""
        _native.delete([self._url(bucket, k) for k in key_list])

    def list_objects(
        self, bucket: str, prefix: str | None = None, match_pattern: str | None = None
    ) -> list[dict[str, Any]]:
        """Objects of ``bucket`` whose key starts with ``prefix``: dicts with ``Key`` and
        ``Size``, sorted by key."""
        if match_pattern is not None:
            raise ValueError("match_pattern is not supported by squall: filter the keys instead")
        base = self._url(bucket, "")
        try:
            found = _native.list_prefix(base + (prefix or "").lstrip("/"))
        except StoreNotFoundError:  # no such bucket
            return []
        return [{"Key": url[len(base) :], "Size": size} for url, size in found]

    def head_bucket(self, bucket: str) -> dict[str, Any]:
        """Metadata of ``bucket`` (which must exist)."""
        _native.list_prefix(self._url(bucket, ""))
        return {"ResponseMetadata": {"HTTPStatusCode": 200}, "Bucket": bucket}

    def list_keys(self, bucket: str, prefix: str | None = None) -> list[str]:
        """Keys of ``bucket`` that start with ``prefix``, sorted."""
        return [o["Key"] for o in self.list_objects(bucket, prefix)]

    def put_cloudobject(
        self, body: bytes | str | Any, bucket: str | None = None, key: str | None = None
    ) -> CloudObject:
        """Writes ``body`` and returns a reference to pass around (to tasks, to
        :meth:`get_cloudobject`). Without a key it goes under this executor's prefix, which
        ``FunctionExecutor.clean()`` removes."""
        bucket = bucket or self.bucket
        key = key or f"{cloudobjects_prefix(self._executor_id)}{uuid.uuid4().hex}"
        self.put_object(bucket, key, body)
        return CloudObject(self.backend, bucket, key)

    def get_cloudobject(self, cloudobject: CloudObject, stream: bool = False) -> Any:
        """Reads what ``cloudobject`` refers to."""
        return self.get_object(cloudobject.bucket, cloudobject.key, stream=stream)

    def delete_cloudobject(self, cloudobject: CloudObject) -> None:
        """Removes what ``cloudobject`` refers to."""
        self.delete_object(cloudobject.bucket, cloudobject.key)

    def delete_cloudobjects(self, cloudobjects: list[CloudObject]) -> None:
        """Removes what each of ``cloudobjects`` refers to."""
        for c in cloudobjects:
            self.delete_cloudobject(c)

    def _delete_prefix(self, bucket: str, prefix: str) -> None:
        _native.delete([self._url(bucket, prefix)], prefix=True)


def cloudobjects_prefix(executor_id: str) -> str:
    """Where an executor's unnamed cloud objects go, within the default bucket."""
    return f"squall.cloudobjects/{executor_id}/"


def _rebuild(backend: str, bucket: str, root: str, executor_id: str) -> Storage:
    return Storage(backend=backend, bucket=bucket, root=root, executor_id=executor_id)


def _parse_range(header: str, url: str) -> tuple[int, int | None]:
    """``bytes=a-b`` (b included) as (a, b + 1); ``bytes=a-`` as (a, None)."""
    try:
        unit, spec = header.split("=", 1)
        first, last = spec.split("-", 1)
        if unit.strip() != "bytes":
            raise ValueError
        return int(first), (int(last) + 1 if last.strip() else None)
    except ValueError:
        raise ValueError(f"Range {header!r} for {url}: use 'bytes=<first>-<last>'") from None


@dataclass
class DataObject:
    """One chunk of an object that a data-processing task (a function with an ``obj``
    parameter) reads, as Lithops gives it: ``obj.data_stream.read()`` returns the chunk's
    bytes, whole lines when a newline is set."""

    url: str
    bucket: str
    key: str
    part: int
    data_byte_range: tuple[int, int]
    chunk_size: int
    newline: str | None
    size: int

    @property
    def path(self) -> str:
        return self.url

    @functools.cached_property
    def data_stream(self) -> io.BytesIO:
        return io.BytesIO(read_chunk(self.url, *self.data_byte_range, self.size, self.newline))


def read_chunk(url: str, start: int, end: int, size: int, newline: str | None) -> bytes:
    """The bytes of ``[start, end)``, or with ``newline`` the lines that start in it: a chunk
    begins after the first newline at or past ``start`` (unless it starts the object) and ends
    with the line that holds byte ``end - 1``."""
    if end <= start:
        return b""
    if newline is None:
        return _native.read_range(url, start, end)
    sep = newline.encode()
    lo = max(start - len(sep), 0)
    data = _native.read_range(url, lo, end)
    while not data.endswith(sep) and lo + len(data) < size:
        more = _native.read_range(
            url, lo + len(data), min(lo + len(data) + _NEWLINE_LOOKAHEAD, size)
        )
        cut = more.find(sep)
        if cut >= 0:
            data += more[: cut + len(sep)]
            break
        data += more
    if start > 0:
        # The line that crosses `start` belongs to the previous chunk.
        first = data.find(sep)
        data = data[first + len(sep) :] if first >= 0 else b""
    return data


def partitions(
    storage: Storage,
    where: str,
    chunk_size: int | None,
    chunk_number: int | None,
    newline: str | None,
) -> list[DataObject]:
    """The chunks of every object that ``where`` names: ``bucket/key``, ``bucket/prefix/``, or
    a full URL (``s3://...``, ``file://...``)."""
    scheme, sep, rest = where.partition("://")
    if sep and scheme not in (storage.backend, "localhost"):
        url = where  # a URL of squall's stores: s3://bucket/key, file:///path
        bucket = rest.partition("/")[0] if scheme != "file" else ""
        base = f"{scheme}://{bucket}/" if bucket else f"{scheme}://"
    else:
        bucket, _, key = (rest if sep else where).partition("/")
        url = storage._url(bucket, key)
        base = storage._url(bucket, "")
    listed = _native.list_prefix(url)
    exact = [(u, n) for u, n in listed if u == url]
    found = exact or [(u, n) for u, n in listed if url.endswith("/") or u.startswith(url + "/")]
    if not found:
        raise StoreNotFoundError(f"{where}: no object there (give bucket/key or bucket/prefix/)")
    out: list[DataObject] = []
    for obj_url, size in found:
        if chunk_number:
            step = max(-(-size // chunk_number), 1)
        elif chunk_size:
            if chunk_size < 1:
                raise ValueError(f"obj_chunk_size={chunk_size}: use a positive number of bytes")
            step = chunk_size
        else:
            step = max(size, 1)
        key_of = obj_url.removeprefix(base)
        for part, start in enumerate(range(0, max(size, 1), step)):
            end = min(start + step, size)
            out.append(DataObject(obj_url, bucket, key_of, part, (start, end), step, newline, size))
    return out
