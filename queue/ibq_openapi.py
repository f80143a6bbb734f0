"""The worker API description served at GET <base>/openapi.

Workers find out whether the server takes {"partial":...} updates by looking
for the schema UpdateJobPartial here, so it is present only when partial
updates are enabled, as on real servers from October 2025 on.
"""

import copy


def _ref(name):
    return {"$ref": "#/components/schemas/" + name}


def _json(schema):
    return {"content": {"application/json": {"schema": schema}}}


_ERR = _json(_ref("Error"))
_ERRORS = {"4XX": _ERR, "5XX": _ERR}


def _ok(code, desc, schema=None):
    r = {"description": desc}
    if schema:
        r.update(_json(schema))
    return {code: r}


def _op(op_id, summary, responses, body=None, **extra):
    o = {"operationId": op_id, "summary": summary, "responses": responses}
    if body:
        o["requestBody"] = _json(body)
    o.update(extra)
    return o


def _path_param(name, fmt=None):
    schema = {"type": "string"}
    if fmt:
        schema["format"] = fmt
    return {"schema": schema, "name": name, "in": "path", "required": True}


def _ref_object(*required, **props):
    return {"allOf": [_ref("ObjectReference"),
                      {"type": "object", "required": list(required),
                       "properties": props}]}


_STR = {"type": "string"}
_RAW = {"x-go-type": "json.RawMessage"}

_SPEC = {
    "openapi": "3.0.0",
    "info": {"title": "OSBuild Composer - Worker", "version": "1",
             "description": "Workers request jobs, report on them and "
                            "upload their artifacts through this API."},
    "servers": [{"url": "/api/image-builder-worker/v1"},
                {"url": "/api/worker/v1"}],
    "paths": {
        "/openapi": {"get": _op("getOpenapi", "This document, as JSON",
                                dict(_ok("200", "the spec"), **{"500": _ERR}))},
        "/status": {"get": _op("GetStatus", "Service status",
                               dict(_ok("200", "OK", _ref("StatusResponse")),
                                    **_ERRORS))},
        "/jobs": {"post": _op(
            "RequestJob", "Request a job (blocks until one is available)",
            dict(_ok("201", "Created", _ref("RequestJobResponse")),
                 **_ok("204", "No job available, ask again",
                       _ref("ObjectReference")), **_ERRORS),
            body=_ref("RequestJobRequest"))},
        "/jobs/{token}": {
            "parameters": [_path_param("token")],
            "get": _op("GetJob", "Get a running job (the job heartbeat)",
                       dict(_ok("200", "OK", _ref("GetJobResponse")),
                            **_ERRORS)),
            "patch": _op("UpdateJob", "Update a running job",
                         dict(_ok("200", "OK", _ref("UpdateJobResponse")),
                              **_ERRORS),
                         body=_ref("UpdateJobRequest"))},
        "/jobs/{token}/artifacts/{name}": {"put": _op(
            "UploadJobArtifact", "Upload an artifact",
            dict(_ok("200", "OK"), **_ERRORS),
            parameters=[_path_param("name"), _path_param("token")],
            requestBody={"content": {"application/octet-stream": {
                "schema": {"type": "string"}}}})},
        "/errors/{id}": {"get": _op(
            "getError", "Describe an error code",
            dict(_ok("200", "the error", _ref("Error")), **_ERRORS),
            parameters=[_path_param("id")])},
        "/workers": {"post": _op(
            "postWorkers", "Register a worker",
            _ok("201", "Created", _ref("PostWorkersResponse")),
            body=_ref("PostWorkersRequest"))},
        "/workers/{worker_id}/status": {
            "parameters": [_path_param("worker_id", "uuid")],
            "post": _op("postWorkerStatus", "Refresh the worker's liveness",
                        _ok("200", "refreshed"))},
    },
    "components": {"schemas": {
        "ObjectReference": {"type": "object",
                            "required": ["id", "kind", "href"],
                            "properties": {"id": _STR, "kind": _STR,
                                           "href": _STR}},
        "Error": _ref_object("code", "reason", "operation_id", "message",
                             code=_STR, reason=_STR, operation_id=_STR,
                             message=_STR),
        "StatusResponse": _ref_object("status", status=_STR),
        "RequestJobRequest": {
            "type": "object", "required": ["types", "arch"],
            "properties": {"types": {"type": "array", "items": _STR},
                           "arch": _STR, "worker_id": _STR}},
        "RequestJobResponse": _ref_object(
            "type", "location", "artifact_location",
            location=_STR, artifact_location=_STR, type=_STR,
            compose_id=_STR, args=_RAW,
            dynamic_args={"type": "array", "items": _RAW}),
        "GetJobResponse": _ref_object("canceled",
                                      canceled={"type": "boolean"}),
        "UpdateJobResult": {"type": "object", "required": ["result"],
                            "properties": {"result": _RAW}},
        "UpdateJobPartial": {"type": "object", "required": ["partial"],
                             "properties": {"partial": _RAW}},
        "UpdateJobRequest": {"oneOf": [_ref("UpdateJobResult"),
                                       _ref("UpdateJobPartial")]},
        "UpdateJobResponse": _ref("ObjectReference"),
        "PostWorkersRequest": {"type": "object", "required": ["arch"],
                               "properties": {"arch": _STR}},
        "PostWorkersResponse": _ref_object(
            "worker_id", worker_id={"type": "string", "format": "uuid"}),
    }},
}


def spec(partial):
    """The document for a server with or without partial updates."""
    s = copy.deepcopy(_SPEC)
    schemas = s["components"]["schemas"]
    if not partial:
        del schemas["UpdateJobPartial"]
        del schemas["UpdateJobResult"]
        schemas["UpdateJobRequest"] = {"type": "object",
                                       "required": ["result"],
                                       "properties": {"result": _RAW}}
    return s
