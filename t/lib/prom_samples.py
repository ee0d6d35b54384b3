#!/usr/bin/python3
# Reads Prometheus text on stdin and parses it with the Prometheus
# client's own parser (Debian's python3-prometheus-client,
# text_string_to_metric_families).  Prints one line per sample,
# "name{label="value",...} value" with the labels sorted, after checking
# what the parser does not: every family has HELP and TYPE and the
# agentcore_ prefix, counters end in _total, histograms' buckets are
# cumulative and their +Inf bucket equals _count.  A problem prints
# "ERROR: ..." and exits 1.

import re
import sys

from prometheus_client.parser import text_string_to_metric_families


def fail(msg):
    print("ERROR: " + msg)
    sys.exit(1)


def main():
    text = sys.stdin.read()

    helps = set(re.findall(r"^# HELP (\S+) ", text, re.M))
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))

    for name, kind in types.items():
        if not name.startswith("agentcore_"):
            fail("no agentcore_ prefix: " + name)
        if name not in helps:
            fail("no HELP for " + name)
        if kind == "counter" and not name.endswith("_total"):
            fail("a counter without _total: " + name)
        if kind not in ("counter", "gauge", "histogram"):
            fail("type %s of %s" % (kind, name))

    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:
        fail("the parser refused it: %r" % e)

    out = []

    for f in families:
        buckets = {}
        counts = {}

        for s in f.samples:
            labels = dict(s.labels)
            v = s.value
            v = int(v) if v == int(v) else v
            ls = ",".join('%s="%s"' % (k, labels[k]) for k in sorted(labels))
            out.append("%s%s %s" % (s.name, "{%s}" % ls if ls else "", v))

            if f.type == "histogram":
                key = tuple(sorted((k, x) for k, x in labels.items()
                                   if k != "le"))
                if s.name.endswith("_bucket"):
                    buckets.setdefault(key, []).append(
                        (float(labels["le"]), s.value))
                elif s.name.endswith("_count"):
                    counts[key] = s.value

        for key, b in buckets.items():
            if [x[0] for x in b] != sorted(x[0] for x in b):
                fail("buckets out of order in " + f.name)
            if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
                fail("buckets not cumulative in " + f.name)
            if b[-1][0] != float("inf") or b[-1][1] != counts.get(key):
                fail("+Inf bucket is not _count in " + f.name)

    print("\n".join(out))


main()
