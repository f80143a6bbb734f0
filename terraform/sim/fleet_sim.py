#!/usr/bin/python3
"""Capacity on paper for the worker fleet: a discrete-event simulation of the
composer queue, the Auto Scaling group driven by the module's scaling
policies, the termination hook, the region's snapshot-import quota and a GCP
project's image quota.

Scaling parameters come from the module's variable defaults (JSON written by
`node terraform/tests/lib/hcl2json.js --defaults terraform/modules/worker-fleet`)
or a flat JSON file, overridden with --set key=value. Traces are generated
from a fixed seed, so a run is reproducible.

  fleet_sim.py --defaults defaults.json [--small] [--set max_size=10]
               [--sweep backlog_per_instance_target=0.25,0.5,1] [--json out.json]

What is modelled (one minute = one CloudWatch datapoint):
- target tracking on PendingJobs / InService: scale out after 3 datapoints
  above target, to ceil(pending / target); scale in after 15 datapoints
  below 0.9 x target, proportionally but removing at most
  scale_in_max_fraction of the group per step (AWS scales in "gradually" and
  does not say how much: this fraction is our assumption);
- scale from zero: desired 0 and jobs pending -> scale_from_zero_capacity;
- launch: cold boot instance_warmup_seconds, or warm_start_s from a warm pool
  that refills after a cold boot;
- a worker protects its instance from scale-in protect_latency_s after taking
  a job and unprotects when the job ends; the group terminates the oldest
  unprotected instances;
- on termination without the hook a running job is killed (the composer
  requeues it requeue_delay_s later); with the hook the worker drains: the job
  finishes (heartbeats extend the wait up to min(48 h, 100 x heartbeat
  timeout)), then the instance goes;
- after its build, an AWS-target job imports a snapshot: at most 20 imports
  run at once per region, the rest wait (the worker stays busy meanwhile);
- a GCP-target job adds an image to a project holding at most 1000, each kept
  14 days; the project starts as full as the trace's rate would have made it
  over the previous 14 days; a job finding it full fails.
"""
import argparse
import collections
import heapq
import json
import math
import random
import sys

AWS_IMPORT_LIMIT = 20          # concurrent ImportSnapshot tasks per region
GCP_IMAGE_LIMIT = 1000         # images per GCP project
GCP_RETENTION_S = 14 * 86400   # two weeks
MINUTE = 60.0

# Parameters the module does not have (AWS behaviour and workload shape).
SIM_DEFAULTS = {
    "scale_out_datapoints": 3,
    "scale_in_datapoints": 15,
    "scale_in_max_fraction": 0.5,
    "warm_start_s": 60.0,
    "protect_latency_s": 3.0,
    "requeue_delay_s": 120.0,
    "build_median_s": 12 * 60.0,
    "build_sigma": 0.5,
    "import_median_s": 8 * 60.0,
    "import_sigma": 0.4,
    "aws_share": 0.5,
    "gcp_share": 0.05,
    "seed": 20240601,
}

# Module variables the simulation reads (the rest of the module is irrelevant).
MODULE_KEYS = ("backlog_per_instance_target", "min_size", "max_size", "instance_warmup_seconds",
               "lifecycle_heartbeat_timeout", "scale_from_zero_capacity", "warm_pool")


def params_from(defaults, overrides):
    p = dict(SIM_DEFAULTS)
    missing = [k for k in MODULE_KEYS if k not in defaults]
    if missing:
        raise SystemExit("fleet_sim: module defaults lack %s" % ", ".join(missing))
    for k in MODULE_KEYS:
        p[k] = defaults[k]
    wp = p.pop("warm_pool") or {}
    p["warm_pool_size"] = int(wp.get("min_size") or 0) if wp.get("enabled") else 0
    p["hook"] = True
    p["protection"] = True
    for k, v in overrides.items():
        if k not in p:
            raise SystemExit("fleet_sim: unknown parameter %s (known: %s)" % (k, ", ".join(sorted(p))))
        p[k] = type(p[k])(v) if not isinstance(p[k], bool) else v in (True, "1", "true", "yes")
    return p


# --- traces -------------------------------------------------------------------

def gen_trace(kind, small, p):
    """[(arrival_s, build_s, import_s or 0, gcp bool)] for one trace."""
    rng = random.Random("%s/%s/%s" % (p["seed"], kind, small))
    hours = {"steady": 4 if small else 8, "burst": 4 if small else 8, "diurnal": 24 if small else 72}[kind]
    end = hours * 3600.0
    arrivals = []
    if kind == "steady":
        rate = (0.5 if small else 1.0) / MINUTE
        t = rng.expovariate(rate)
        while t < end:
            arrivals.append(t)
            t += rng.expovariate(rate)
    elif kind == "burst":
        rate = 0.1 / MINUTE
        t = rng.expovariate(rate)
        while t < end:
            arrivals.append(t)
            t += rng.expovariate(rate)
        n_burst = 60 if small else 150
        arrivals += [3600.0 + rng.uniform(0, 600) for _ in range(n_burst)]
    else:  # diurnal: rate swings between 0.1 and 1.5 jobs/min over each day
        peak = (0.8 if small else 1.5) / MINUTE
        t = 0.0
        while True:
            t += rng.expovariate(peak)
            if t >= end:
                break
            day = (t % 86400.0) / 86400.0
            rate = 0.1 / MINUTE + (peak - 0.1 / MINUTE) * (0.5 - 0.5 * math.cos(2 * math.pi * day))
            if rng.random() < rate / peak:
                arrivals.append(t)
    arrivals.sort()
    jobs = []
    for a in arrivals:
        build = min(rng.lognormvariate(math.log(p["build_median_s"]), p["build_sigma"]), 3 * 3600.0)
        u = rng.random()
        imp = rng.lognormvariate(math.log(p["import_median_s"]), p["import_sigma"]) if u < p["aws_share"] else 0.0
        gcp = p["aws_share"] <= u < p["aws_share"] + p["gcp_share"]
        jobs.append((a, build, imp, gcp))
    return jobs, end


# --- the simulation -----------------------------------------------------------

class Instance:
    __slots__ = ("id", "launched", "ready", "state", "job", "protected", "gone", "gen")

    def __init__(self, iid, now, ready):
        self.id, self.launched, self.ready = iid, now, ready
        self.state = "booting"        # booting, idle, busy, draining, gone
        self.job = None
        self.protected = False
        self.gone = None
        self.gen = 0                  # bumps when a job is killed: stale events are ignored


def percentile(values, q):
    if not values:
        return 0.0
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def simulate(jobs, end, p, waits=None):
    events, seq = [], [0]

    def at(t, kind, *args):
        seq[0] += 1
        heapq.heappush(events, (t, seq[0], kind, args))

    n = len(jobs)
    queue = collections.deque()          # job ids waiting for a worker
    queued_since = [0.0] * n
    waited = [0.0] * n
    done = [False] * n
    instances = []
    desired = max(p["min_size"], 0)
    warm_ready = p["warm_pool_size"]     # warm instances ready to start
    imports_running, import_queue, import_waits, peak_imports, peak_import_queue = 0, collections.deque(), [], 0, 0
    import_asked = [0.0] * n
    # GCP project prefilled as if the trace's GCP rate had run for two weeks
    gcp_jobs = sum(1 for j in jobs if j[3])
    prefill = min(GCP_IMAGE_LIMIT, int(round(gcp_jobs / max(end, 1.0) * GCP_RETENTION_S)))
    gcp_expiry = [(-GCP_RETENTION_S + (i + 0.5) * GCP_RETENTION_S / max(prefill, 1)) + GCP_RETENTION_S
                  for i in range(prefill)]
    heapq.heapify(gcp_expiry)
    gcp_peak, gcp_rejected = len(gcp_expiry), 0
    kills, high, low, completed = 0, 0, 0, 0
    peak_instances = 0
    hook_limit = min(48 * 3600.0, 100.0 * p["lifecycle_heartbeat_timeout"])

    def live():
        return [i for i in instances if i.state in ("booting", "idle", "busy")]

    def launch(now):
        nonlocal warm_ready
        if warm_ready > 0:
            warm_ready -= 1
            delay = p["warm_start_s"]
            at(now + p["instance_warmup_seconds"], "warm_refill")
        else:
            delay = p["instance_warmup_seconds"]
        inst = Instance(len(instances), now, now + delay)
        instances.append(inst)
        at(inst.ready, "ready", inst)

    def terminate(inst, now):
        nonlocal kills
        if inst.state == "busy" and not p["hook"]:
            kills += 1
            j = inst.job
            inst.gen += 1
            inst.job = None
            release_import(j, now)
            at(now + p["requeue_delay_s"], "arrive", j)
        if inst.state == "busy" and p["hook"]:
            inst.state = "draining"      # finishes its job, then goes (see job_done)
            at(now + hook_limit, "hook_timeout", inst, inst.gen)
            return
        inst.state, inst.gone = "gone", now

    def reconcile(now):
        """Make the group's live instances match desired capacity."""
        cur = live()
        if len(cur) < desired:
            for _ in range(desired - len(cur)):
                launch(now)
        elif len(cur) > desired:
            # Oldest first (OldestInstance); protected instances are skipped.
            for inst in sorted(cur, key=lambda i: i.launched)[:]:
                if len(live()) <= desired:
                    break
                if not inst.protected:
                    terminate(inst, now)

    def dispatch(now):
        for inst in instances:
            if not queue:
                return
            if inst.state == "idle":
                start(inst, queue.popleft(), now)

    def start(inst, j, now):
        waited[j] += now - queued_since[j]
        inst.state, inst.job = "busy", j
        if p["protection"]:
            at(now + p["protect_latency_s"], "protect", inst, inst.gen)
        at(now + jobs[j][1], "built", inst, inst.gen)

    def release_import(j, now):
        nonlocal imports_running
        if j in import_queue:
            import_queue.remove(j)
        elif import_asked[j] < 0:        # was running
            import_asked[j] = 0.0
            imports_running -= 1
            grant_imports(now)

    def grant_imports(now):
        nonlocal imports_running, peak_imports
        while import_queue and imports_running < AWS_IMPORT_LIMIT:
            j = import_queue.popleft()
            import_waits.append(now - import_asked[j])
            import_asked[j] = -1.0
            imports_running += 1
            peak_imports = max(peak_imports, imports_running)
            owner = next(i for i in instances if i.job == j and i.state in ("busy", "draining"))
            at(now + jobs[j][2], "imported", owner, owner.gen)

    def job_done(inst, now):
        nonlocal completed
        done[inst.job] = True
        completed += 1
        inst.job = None
        inst.protected = False
        if inst.state == "draining":
            inst.state, inst.gone = "gone", now
            return
        inst.state = "idle"
        reconcile(now)
        if inst.state == "idle":
            dispatch(now)

    for j, job in enumerate(jobs):
        at(job[0], "arrive", j)
    at(0.0, "tick")
    reconcile(0.0)

    now = 0.0
    while events:
        now, _, kind, args = heapq.heappop(events)
        if kind == "arrive":
            j = args[0]
            queued_since[j] = now
            queue.append(j)
            dispatch(now)
        elif kind == "ready":
            inst = args[0]
            if inst.state == "booting":
                inst.state = "idle"
                dispatch(now)
        elif kind == "warm_refill":
            warm_ready += 1
        elif kind == "protect":
            inst, gen = args
            if inst.gen == gen and inst.state in ("busy", "draining") and inst.job is not None:
                inst.protected = True
        elif kind in ("built", "imported", "hook_timeout"):
            inst, gen = args
            if inst.gen != gen or inst.job is None:
                continue
            j = inst.job
            if kind == "hook_timeout":
                if inst.state == "draining":     # the hook ran out: killed after all
                    kills += 1
                    inst.gen += 1
                    release_import(j, now)
                    inst.job, inst.state, inst.gone = None, "gone", now
                    at(now + p["requeue_delay_s"], "arrive", j)
                continue
            if kind == "built" and jobs[j][2] > 0:
                import_asked[j] = now
                import_queue.append(j)
                peak_import_queue_now = len(import_queue)
                peak_import_queue = max(peak_import_queue, peak_import_queue_now)
                grant_imports(now)
                continue
            if kind == "imported":
                import_asked[j] = 0.0
                imports_running -= 1
                grant_imports(now)
            if kind == "built" and jobs[j][3]:
                while gcp_expiry and gcp_expiry[0] <= now:
                    heapq.heappop(gcp_expiry)
                if len(gcp_expiry) >= GCP_IMAGE_LIMIT:
                    gcp_rejected += 1
                else:
                    heapq.heappush(gcp_expiry, now + GCP_RETENTION_S)
                    gcp_peak = max(gcp_peak, len(gcp_expiry))
            job_done(inst, now)
        elif kind == "tick":
            in_service = [i for i in instances if i.state in ("idle", "busy")]
            pending = len(queue)
            peak_instances = max(peak_instances, len(live()))
            # The scale-from-zero alarm: one datapoint of "desired 0, jobs pending".
            if desired == 0 and pending > 0:
                desired = min(p["max_size"], p["scale_from_zero_capacity"])
            if not in_service:
                high = low = 0           # PendingJobs / 0: no datapoint, target tracking idles
            else:
                metric = pending / len(in_service)
                target = p["backlog_per_instance_target"]
                high = high + 1 if metric > target else 0
                low = low + 1 if metric < 0.9 * target else 0
                if high >= p["scale_out_datapoints"]:
                    want = math.ceil(len(in_service) * metric / target)
                    desired = max(desired, min(p["max_size"], want))
                if low >= p["scale_in_datapoints"]:
                    want = math.ceil(len(in_service) * metric / target)
                    step = max(1, int(p["scale_in_max_fraction"] * len(in_service)))
                    desired = min(desired, max(p["min_size"], want, len(in_service) - step))
                    low = 0
            reconcile(now)
            # Run past the trace until every job is done and the group has
            # shrunk back to min_size (its idle tail costs instance-hours too).
            busy = completed < n or now < end or len(live()) > p["min_size"]
            if busy and now < end + 2 * 86400.0:
                at(now + MINUTE, "tick")

    hours = sum(((i.gone if i.gone is not None else now) - i.launched) for i in instances) / 3600.0
    if waits is not None:
        waits.extend((round(jobs[j][0], 1), round(waited[j], 1)) for j in range(n))
    return {
        "jobs": n,
        "completed": completed,
        "wait_p50_s": round(percentile(waited, 0.50), 1),
        "wait_p95_s": round(percentile(waited, 0.95), 1),
        "wait_max_s": round(max(waited) if waited else 0.0, 1),
        "instance_hours": round(hours, 2),
        "busy_hours": round(sum(j[1] for j in jobs) / 3600.0, 2),
        "peak_instances": peak_instances,
        "kills": kills,
        "import_wait_p95_s": round(percentile(import_waits, 0.95), 1),
        "peak_imports": peak_imports,
        "peak_import_queue": peak_import_queue,
        "gcp_images_peak": gcp_peak,
        "gcp_rejected": gcp_rejected,
        "end_s": round(now, 1),
    }


def measured(defaults, rate_per_s, build_s, hours=4.0, overrides=None):
    """The module's scaling at a measured load (ib-loadtest's entry): Poisson
    arrivals at rate_per_s for `hours`, each build drawn from the measured
    durations build_s (seconds), no imports. The result of simulate() with
    "waits": [(arrival_s, queue wait_s)] of every job and the inputs."""
    if rate_per_s <= 0 or not build_s or hours <= 0:
        raise ValueError("measured: a positive rate, durations and hours are needed")
    p = params_from(defaults, overrides or {})
    rng = random.Random("%s/measured" % p["seed"])
    end = hours * 3600.0
    jobs, t = [], rng.expovariate(rate_per_s)
    while t < end:
        jobs.append((t, float(rng.choice(build_s)), 0.0, False))
        t += rng.expovariate(rate_per_s)
    waits = []
    out = simulate(jobs, end, p, waits)
    out["waits"] = waits
    out["input"] = {"arrival_rate_per_s": rate_per_s, "builds": len(build_s), "hours": hours,
                    "build_p50_s": round(percentile(build_s, 0.5), 1),
                    "build_p95_s": round(percentile(build_s, 0.95), 1)}
    return out


def run_all(p, small):
    out = {}
    for kind in ("steady", "burst", "diurnal"):
        jobs, end = gen_trace(kind, small, p)
        deployed = simulate(jobs, end, p)
        bare = simulate(jobs, end, dict(p, hook=False, protection=False))
        prot = simulate(jobs, end, dict(p, hook=False, protection=True))
        deployed["kills_no_hook_no_protection"] = bare["kills"]
        deployed["kills_no_hook_protection"] = prot["kills"]
        deployed["kills_hook"] = deployed.pop("kills")
        out[kind] = deployed
    return out


COLUMNS = [("trace", "trace"), ("jobs", "jobs"), ("wait_p50_s", "wait p50 s"), ("wait_p95_s", "wait p95 s"),
           ("instance_hours", "inst-h"), ("busy_hours", "build-h"), ("peak_instances", "peak inst"),
           ("kills_no_hook_no_protection", "kills bare"), ("kills_no_hook_protection", "kills prot"),
           ("kills_hook", "kills hook"), ("import_wait_p95_s", "import wait p95 s"),
           ("peak_imports", "peak imports"), ("gcp_images_peak", "gcp images peak"),
           ("gcp_rejected", "gcp rejected")]


def table(rows, extra=None):
    cols = ([(extra, extra)] if extra else []) + COLUMNS
    lines = ["| " + " | ".join(h for _, h in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(k, "")) for k, _ in cols) + " |")
    return "\n".join(lines)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--defaults", help="JSON {variable: default} of the module (hcl2json.js --defaults)")
    src.add_argument("--params", help="flat JSON of the same keys")
    ap.add_argument("--small", action="store_true", help="short traces, for tests")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--sweep", metavar="KEY=V1,V2,...", help="one table row per value, per trace")
    ap.add_argument("--json", help="write the results as JSON to this file")
    ap.add_argument("--measured", metavar="FILE", help="JSON {arrival_rate_per_s, build_s: [...], hours}: "
                    "simulate that load (as ib-loadtest measured it) instead of the traces")
    a = ap.parse_args(argv)
    with open(a.defaults or a.params) as f:
        defaults = json.load(f)
    overrides = dict(kv.split("=", 1) for kv in a.set)
    if a.measured:
        with open(a.measured) as f:
            m = json.load(f)
        res = measured(defaults, float(m["arrival_rate_per_s"]), [float(x) for x in m["build_s"]],
                       float(m.get("hours", 4.0)), overrides)
        print(table([dict(res, trace="measured")]))
        if a.json:
            with open(a.json, "w") as f:
                json.dump(res, f, indent=1, sort_keys=True)
        return 0
    p = params_from(defaults, overrides)
    print("parameters: " + ", ".join("%s=%s" % (k, p[k]) for k in sorted(p)))
    result = {"params": p}
    if a.sweep:
        key, values = a.sweep.split("=", 1)
        rows, result["sweep"] = [], {}
        for v in values.split(","):
            pv = params_from(defaults, dict(overrides, **{key: v}))
            res = run_all(pv, a.small)
            result["sweep"][v] = res
            rows += [dict(r, trace=k, **{key: v}) for k, r in res.items()]
        rows.sort(key=lambda r: (r["trace"], float(r[key])))
        print(table(rows, key))
    else:
        res = run_all(p, a.small)
        result["runs"] = res
        print(table([dict(r, trace=k) for k, r in res.items()]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
