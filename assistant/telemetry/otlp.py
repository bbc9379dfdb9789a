"""OTLP trace payloads in and out of plain spans: ``ExportTraceServiceRequest`` as protobuf (what
the OpenTelemetry exporters send) or as OTLP/JSON (ids in hex, as the spec says, not protobuf
JSON's base64), decoded with ``opentelemetry-proto``'s own types."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

_ID_KEYS = ("traceId", "spanId", "parentSpanId")


class OtlpDecodeError(ValueError):
    """The body is not an OTLP trace export."""


@dataclass(frozen=True, slots=True)
class Span:
    trace_id: str  # hex
    span_id: str
    parent_id: str | None
    name: str
    start_ns: int
    end_ns: int
    error: bool
    status_message: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    events: tuple[tuple[str, dict[str, Any]], ...] = field(default=())

    @property
    def duration_ms(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e6

    def get(self, key: str, default: Any = None) -> Any:
        """A span attribute, else the resource's."""
        if key in self.attributes:
            return self.attributes[key]
        return self.resource.get(key, default)


def any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` as Python (arrays as lists, kvlists as dicts)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return bytes(value.bytes_value).hex()
    return getattr(value, kind)


def _attributes(items: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in items}


def spans_of(message: Any) -> list[Span]:
    """Every span of an ``ExportTraceServiceRequest``, with its resource's attributes."""
    out: list[Span] = []
    for resource_spans in message.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(
                    Span(
                        trace_id=bytes(span.trace_id).hex(),
                        span_id=bytes(span.span_id).hex(),
                        parent_id=bytes(span.parent_span_id).hex() or None,
                        name=span.name,
                        start_ns=int(span.start_time_unix_nano),
                        end_ns=int(span.end_time_unix_nano),
                        error=span.status.code == 2,  # STATUS_CODE_ERROR
                        status_message=span.status.message,
                        attributes=_attributes(span.attributes),
                        resource=resource,
                        events=tuple((e.name, _attributes(e.attributes)) for e in span.events),
                    )
                )
    return out


def decode_protobuf(body: bytes) -> Any:
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    try:
        return ExportTraceServiceRequest.FromString(body)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise OtlpDecodeError(f"not an OTLP ExportTraceServiceRequest (protobuf): {exc}") from exc


def _hex_ids_to_b64(node: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                try:
                    value = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError as exc:
                    raise OtlpDecodeError(f"{key} {value!r} is not hex") from exc
            out[key] = _hex_ids_to_b64(value)
        return out
    if isinstance(node, list):
        return [_hex_ids_to_b64(v) for v in node]
    return node


def _b64_ids_to_hex(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                base64.b64decode(value).hex()
                if key in _ID_KEYS and isinstance(value, str)
                else _b64_ids_to_hex(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_b64_ids_to_hex(v) for v in node]
    return node


def decode_json(body: bytes) -> Any:
    """An OTLP/JSON body (hex ids) as an ``ExportTraceServiceRequest``."""
    from google.protobuf.json_format import ParseDict, ParseError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OtlpDecodeError(f"not JSON: {exc}") from exc
    except RecursionError as exc:  # 100,000 nested arrays: a bad body, not a crash
        raise OtlpDecodeError("JSON nested too deep for an OTLP body") from exc
    if not isinstance(data, dict):
        raise OtlpDecodeError("an OTLP/JSON body is an object with resourceSpans")
    try:
        return ParseDict(_hex_ids_to_b64(data), ExportTraceServiceRequest())
    except RecursionError as exc:
        raise OtlpDecodeError("JSON nested too deep for an OTLP body") from exc
    except (ParseError, ValueError, TypeError) as exc:
        raise OtlpDecodeError(f"not an OTLP ExportTraceServiceRequest (JSON): {exc}") from exc


def to_json_line(message: Any) -> str:
    """``message`` as one OTLP/JSON line (hex ids)."""
    from google.protobuf.json_format import MessageToDict

    return json.dumps(_b64_ids_to_hex(MessageToDict(message)), separators=(",", ":"))
