"""A check for the refusals only the server can decide.

schemathesis.toml lets valid data be answered 400, 412 or 422 as well;
this check lets through only the refusals listed here, each documented on
its operation, so any other 400, 412 or 422 to a schema-valid request still
fails the run.
"""

import json

import schemathesis

# 400s: a query parameter whose validity depends on the data (a cursor no
# page returned, a position not yet handed out, a day range over five
# years or reversed). Named by the field the problem's `errors` gives.
RUN_TIME_QUERY_FIELDS = {"cursor", "min_position", "from"}

# 422s by problem type: a key reused with another request.
RUN_TIME_PROBLEM_TYPES = {
    412: {"urn:stockroom:problem:version-mismatch"},
    422: {"urn:stockroom:problem:idempotency-key-reused"},
}

# 422s of the validation type: a field whose value is refused for what the
# log holds (an unknown or discontinued SKU, a payment of another amount or
# currency than the order's total or a refund of another currency, a
# location not registered, inactive or not serving the key's channel, a
# refund naming a return its order does not have, a receipt naming a SKU
# its return does not hold, a hold's time past its maximum lifetime counted
# from when it was placed). By field, `lines[0].sku` as `lines[].sku`.
RUN_TIME_BODY_FIELDS = {
    "return_id",
    "lines[].sku",
    "lines",
    "amount",
    "currency",
    "location",
    "lines[].location",
    "pickup_location",
    "ttl_seconds",
}


def _field(name):
    head, _, rest = name.partition("[")
    if not rest:
        return name
    return head + "[]" + rest.partition("]")[2]


@schemathesis.check
def refused_only_for_what_the_server_knows(ctx, response, case):
    """Valid data answered 400, 412 or 422 must be one of the run-time refusals."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    status = response.status_code
    if status not in (400, 412, 422):
        return None
    try:
        problem = json.loads(response.text)
    except ValueError:
        raise AssertionError(f"{status} without a problem body") from None
    kind = problem.get("type")
    fields = {_field(e.get("field", "")) for e in problem.get("errors") or []}
    if kind in RUN_TIME_PROBLEM_TYPES.get(status, set()):
        return None
    if status == 400 and kind == "urn:stockroom:problem:bad-query" and fields and fields <= RUN_TIME_QUERY_FIELDS:
        return None
    if status == 422 and kind == "urn:stockroom:problem:validation" and fields and fields <= RUN_TIME_BODY_FIELDS:
        return None
    raise AssertionError(
        f"schema-valid data refused with {status} for something the document could say: {response.text}"
    )
