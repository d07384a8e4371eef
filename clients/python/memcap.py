"""A client of memcap's HTTP API in one file, standard library only (Python 3.8+).

    import memcap
    client = memcap.Client("http://127.0.0.1:8787")  # token: MEMCAP_TOKEN by default
    sweep = client.start_capacity(config={"vocabSize": 64, "seqLen": 16, "layers": 1,
                                          "dModel": 16, "heads": 2})
    done = client.wait_capacity(sweep["id"], progress=memcap.print_progress)
    print(done["bitsPerParameter"], done["verdict"], done["reasons"])
    open("capacity.svg", "w").write(client.capacity_svg(sweep["id"]))

Every method returns the service's JSON as Python values; /docs and /openapi.json describe
each field. An error response raises MemcapError with the HTTP status and the error body
({"error": {"code", "message", "details"?}}).
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

__all__ = ["Client", "MemcapError", "print_progress"]

ENDED = ("succeeded", "failed", "cancelled")


class MemcapError(Exception):
    """An error response: `status`, and `code`, `message` from the service's error body."""

    def __init__(self, status, body, what):
        self.status = status
        self.body = body
        error = body.get("error", {}) if isinstance(body, dict) else {}
        self.code = error.get("code")
        self.message = error.get("message", str(body))
        super().__init__(f"{what}: HTTP {status} {self.code}: {self.message}")


class Client:
    def __init__(self, url="http://127.0.0.1:8787", token=None, timeout=120):
        self.url = url.rstrip("/")
        self.token = token if token is not None else os.environ.get("MEMCAP_TOKEN") or None
        self.timeout = timeout

    # ---- transport -------------------------------------------------------------

    def request(self, method, path, body=None, raw=False):
        """One call; JSON in and out (or the response's text with raw=True)."""
        headers = {"accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as res:
                text = res.read().decode()
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            try:
                payload = json.loads(text)
            except ValueError:
                payload = text
            raise MemcapError(e.code, payload, f"{method} {path}") from None
        if raw:
            return text
        return json.loads(text) if text else None

    # ---- resources -------------------------------------------------------------

    def health(self):
        return self.request("GET", "/v1/health")

    def create_dataset(self, **fields):
        """POST /v1/datasets, e.g. kind="uniform", vocabSize=64, seqLen=16, count=200, seed=1."""
        return self.request("POST", "/v1/datasets", fields)

    def create_model(self, **fields):
        """POST /v1/models, e.g. config={...}, precision="fp32", seed=1."""
        return self.request("POST", "/v1/models", fields)

    def start_run(self, **fields):
        """POST /v1/runs: a training run (a job); returns {"id", "status"}."""
        return self.request("POST", "/v1/runs", fields)

    def run(self, run_id):
        return self.request("GET", f"/v1/runs/{run_id}")

    def start_capacity(self, **fields):
        """POST /v1/capacity: a capacity sweep (a job); returns {"id", "status"}."""
        return self.request("POST", "/v1/capacity", fields)

    def capacity(self, sweep_id):
        return self.request("GET", f"/v1/capacity/{sweep_id}")

    def capacity_svg(self, sweep_id):
        """The sweep's figure (SVG text): memorized bits against dataset bits."""
        return self.request("GET", f"/v1/capacity/{sweep_id}/plot.svg", raw=True)

    def cancel_capacity(self, sweep_id):
        return self.request("POST", f"/v1/capacity/{sweep_id}/cancel")

    def extend_capacity(self, sweep_id, token_budget):
        """POST /v1/capacity/{id}/extend: go on with a sweep its token budget stopped
        (result.budget.stoppedBy "token-budget"), with a larger budget; returns {"id", "status"}."""
        return self.request("POST", f"/v1/capacity/{sweep_id}/extend", {"tokenBudget": token_budget})

    def memorization(self, **fields):
        return self.request("POST", "/v1/memorization", fields)

    def predict(self, **fields):
        return self.request("POST", "/v1/predict", fields)

    # ---- waiting ---------------------------------------------------------------

    def wait_capacity(self, sweep_id, progress=None, poll=1.0):
        """Polls a sweep until it ends, calling progress(sweep) on each read; returns it."""
        return self._wait(lambda: self.capacity(sweep_id), progress, poll)

    def wait_run(self, run_id, progress=None, poll=1.0):
        """Polls a run until it ends, calling progress(run) on each read; returns it."""
        return self._wait(lambda: self.run(run_id), progress, poll)

    @staticmethod
    def _wait(read, progress, poll):
        while True:
            job = read()
            if progress is not None:
                progress(job)
            if job["status"] in ENDED:
                return job
            time.sleep(poll)


def print_progress(job, stream=sys.stderr):
    """A progress printer for wait_*: phase, steps and ETA on one line."""
    p = job.get("progress")
    if not p:
        print(f"{job['id']} {job['status']}", file=stream, flush=True)
        return
    eta = "" if p.get("etaSeconds") is None else f", eta {p['etaSeconds']:.0f}s"
    if "modelsTotal" in p:
        where = (f"models {p['modelsDone']}/{p['modelsTotal']}, "
                 f"step {p['step']}/{p['stepsPlanned']}")
    else:
        where = f"step {p['step']}/{p['totalSteps']}"
    print(f"{job['id']} {job['status']} {p['phase']}: {where}{eta}", file=stream, flush=True)
