#!/usr/bin/env python3
"""Generates calculator.json: what strands_tools' calculator answers.

Run from the repository root (installs the reference into build/ once):
    unit/vectors/gen_calculator.py            # writes unit/vectors/calculator.json

The reference is strands-agents-tools 0.8.10 (SymPy printing), pinned
below, installed with pip into build/calc-ref-venv.  Each vector is
    {"input": <the tool input object>, "status": "success" | "error",
     "text": <the tool result text>}
and, where the module deliberately answers differently, "differs": a
short reason (kept across runs from DIFFERS below); unit/test_calculator.c
checks every vector: the exact text when "differs" is absent, else the
status only.  PYTHONHASHSEED is fixed: the reference picks the variable
of solve/derive/... from a set.
"""

import contextlib
import io
import json
import logging
import os
import subprocess
import sys

PIN = "strands-agents-tools==0.8.10"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VENV = os.path.join(ROOT, "build", "calc-ref-venv")
OUT = os.path.join(ROOT, "unit", "vectors", "calculator.json")

if os.environ.get("AC_CALC_REF") != "1":
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([py, "-m", "pip", "install", "-q", PIN])
    env = dict(os.environ, AC_CALC_REF="1", PYTHONHASHSEED="0")
    for k in list(env):
        if k.startswith("CALCULATOR_"):
            del env[k]
    sys.exit(subprocess.call([py, os.path.abspath(__file__)] + sys.argv[1:],
                             env=env))

logging.disable(logging.CRITICAL)

from strands_tools.calculator import calculator  # noqa: E402


def E(expr, **kw):
    d = {"expression": expr}
    d.update(kw)
    return d


CASES = [
    # evaluate: symbolic and complex (the numeric path has its own tests)
    E("x + 1"), E("sqrt(-1)"), E("x*2 + x"), E("x**2 + 2*x + 1"),
    E("(x + 1)**2"), E("x*y + 1"), E("x - x"), E("a + b - a"),
    E("2*x/4"), E("x/y"), E("sqrt(x**2)"), E("I*I"), E("2 + 3*I"),
    E("(1 + I)**2"), E("sqrt(-4)"), E("1 - I"), E("I/2"),
    E("x + 1", variables={"x": 2}), E("x*y", variables={"x": 3}),
    E("x**2 + y", variables={"x": 3, "y": 4}),
    E("x + 1", force_numeric=True), E("2*x", precision=3),
    E("sqrt(-2)"), E("sqrt(-2)", precision=3), E("(-8)**(1/3)"),
    E("log(-1)"), E("exp(I*pi)"), E("sin(x)**2 + cos(x)**2"),
    E("x**3/x"), E("3*x - 2*x"),
    # solve
    E("x**2 - 4", mode="solve"), E("x - 3", mode="solve"),
    E("2*x + 6", mode="solve"), E("x**2 + 1", mode="solve"),
    E("x**2 - 2", mode="solve"), E("x**2 + 2*x + 1", mode="solve"),
    E("x**3 - x", mode="solve"), E("x**2 - 5*x + 6", mode="solve"),
    E("Eq(x**2, 9)", mode="solve"), E("Eq(2*x, 5)", mode="solve"),
    E("x**2 - 2", mode="solve", precision=3),
    E("x**2 - 2", mode="solve", precision=20),
    E("x**3 - 1", mode="solve"), E("x**4 - 16", mode="solve"),
    E("3*x**2 - 12", mode="solve"), E("x**2 + x + 1", mode="solve"),
    E("x/2 - 1", mode="solve"), E("x**2 - 0.25", mode="solve"),
    E("5", mode="solve"), E("x**2 + 4*x - 5", mode="solve"),
    # derive
    E("x**3", mode="derive"), E("x**3", mode="derive", wrt="x"),
    E("x**3", mode="derive", wrt="x", order=2),
    E("x**3", mode="derive", wrt="x", order=3),
    E("x**3", mode="derive", wrt="x", order=4),
    E("sin(x)", mode="derive", wrt="x"),
    E("sin(x)", mode="derive", wrt="x", order=2),
    E("cos(x)", mode="derive", wrt="x"), E("exp(x)", mode="derive"),
    E("log(x)", mode="derive"), E("x**2 + 3*x + 2", mode="derive"),
    E("1/x", mode="derive"), E("sqrt(x)", mode="derive"),
    E("x*exp(x)", mode="derive"), E("x*sin(x)", mode="derive"),
    E("tan(x)", mode="derive"), E("exp(2*x)", mode="derive"),
    E("x**2*y", mode="derive", wrt="y"),
    E("x**2*y", mode="derive", wrt="x"), E("5", mode="derive", wrt="x"),
    E("x**5 - 2*x**3", mode="derive", wrt="x", order=2),
    E("atan(x)", mode="derive"), E("x**n", mode="derive", wrt="x"),
    E("(x + 1)**2", mode="derive"), E("log(x**2)", mode="derive"),
    # integrate
    E("x**2 + 2*x", mode="integrate"), E("x", mode="integrate"),
    E("x**2", mode="integrate", wrt="x"), E("1", mode="integrate", wrt="x"),
    E("sin(x)", mode="integrate"), E("cos(x)", mode="integrate"),
    E("exp(x)", mode="integrate"), E("1/x", mode="integrate"),
    E("x**3 - 3*x", mode="integrate"), E("2*x + 1", mode="integrate"),
    E("x*exp(x)", mode="integrate"), E("exp(2*x)", mode="integrate"),
    E("1/x**2", mode="integrate"), E("sqrt(x)", mode="integrate"),
    E("x*y", mode="integrate", wrt="y"), E("1/(1 + x**2)", mode="integrate"),
    E("x*cos(x)", mode="integrate"), E("3*x**2 + 2*x + 1", mode="integrate"),
    # limit
    E("sin(x)/x", mode="limit"), E("sin(x)/x", mode="limit", point="0"),
    E("1/x", mode="limit", point="oo"), E("x**2", mode="limit", point="2"),
    E("(x**2 - 1)/(x - 1)", mode="limit", point="1"),
    E("(1 + 1/x)**x", mode="limit", point="oo"),
    E("x/(x + 1)", mode="limit", point="oo"),
    E("(exp(x) - 1)/x", mode="limit", point="0"),
    E("1/x", mode="limit", point="0"), E("x*log(x)", mode="limit"),
    E("(2*x + 3)/(x - 1)", mode="limit", point="oo"),
    E("x**3 - x", mode="limit", point="3"),
    # series
    E("exp(x)", mode="series"), E("sin(x)", mode="series"),
    E("cos(x)", mode="series"), E("1/(1 - x)", mode="series"),
    E("exp(x)", mode="series", order=3), E("sin(x)", mode="series", order=8),
    E("log(1 + x)", mode="series"), E("exp(x)", mode="series", point="1"),
    E("x**2", mode="series"), E("cos(x)", mode="series", order=7),
    E("1/(1 + x)", mode="series", wrt="x", point="0", order=4),
    E("sqrt(1 + x)", mode="series", order=3),
    # matrix
    E("Matrix([[1, 2], [3, 4]])", mode="matrix"),
    E("det(Matrix([[1, 2], [3, 4]]))", mode="matrix"),
    E("transpose(Matrix([[1, 2], [3, 4]]))", mode="matrix"),
    E("trace(Matrix([[1, 2], [3, 4]]))", mode="matrix"),
    E("Matrix([[1, 2], [3, 4]]) * Matrix([[5, 6], [7, 8]])", mode="matrix"),
    E("Matrix([[1, 2], [3, 4]]) + Matrix([[1, 1], [1, 1]])", mode="matrix"),
    E("2*Matrix([[1, 2], [3, 4]])", mode="matrix"),
    E("det(Matrix([[2, 0, 0], [0, 3, 0], [0, 0, 4]]))", mode="matrix"),
    E("Matrix([[1, 2, 3]])", mode="matrix"),
    E("Matrix([[a, b], [c, d]])", mode="matrix"),
    E("det(Matrix([[a, b], [c, d]]))", mode="matrix"),
    E("Matrix([[1, 2], [3, 4]])**2", mode="matrix"),
    E("1 + 2", mode="matrix"),
    # more forms a model asks for
    E("expand((x+1)**3)"), E("factor(x**2-1)"), E("x**2 + 2*x*y + y**2"),
    E("(x**2-1)/(x-1)"), E("2*x + 3*y - x"), E("x/2 + x/3"),
    E("sin(x)*cos(x)"), E("exp(x)*exp(y)"), E("log(x) + log(y)"),
    E("sqrt(8)*x"), E("x**-2"), E("1/(x*y)"), E("a*b*c - c*b*a + 1"),
    E("(x+y)*(x-y)"), E("x**(1/3)"), E("3*x**2*y - 2*x*y**2"),
    E("x*y", variables={"x": "2*z"}), E("sqrt(-9) + 1"),
    E("x**2", mode="derive", wrt="y"), E("exp(-x**2)", mode="derive"),
    E("sin(x)*cos(x)", mode="derive"),
    E("x**2*exp(x)", mode="integrate"), E("log(x)", mode="integrate"),
    E("1/(x**2-1)", mode="integrate"), E("tan(x)", mode="integrate"),
    E("x*sin(x)", mode="integrate"), E("sin(x)**2", mode="integrate"),
    E("x/(x**2+1)", mode="integrate"),
    E("x**3-6*x**2+11*x-6", mode="solve"), E("x**2+x-1", mode="solve"),
    E("exp(x)-2", mode="solve"),
    E("(1+x)**(1/x)", mode="limit"), E("sin(3*x)/x", mode="limit"),
    E("(x**2+1)/(2*x**2-3)", mode="limit", point="oo"),
    E("tan(x)", mode="series"), E("exp(-x)", mode="series", order=4),
    E("atan(x)", mode="series", order=6),
    E("Matrix([[1,2],[3,4]])*Matrix([[1],[1]])", mode="matrix"),
    E("det(Matrix([[1,2,3],[4,5,6],[7,8,10]]))", mode="matrix"),
    E("Matrix([[2,0],[0,2]])**-1", mode="matrix"),
    # errors
    E("x +", mode="derive"), E("1/0", mode="derive", wrt="x"),
    E("1/0", mode="integrate", wrt="x"),
]


vectors = []
for case in CASES:
    with contextlib.redirect_stdout(io.StringIO()):
        r = calculator(**case)
    vectors.append({"input": case, "status": r["status"],
                    "text": r["content"][0]["text"]})

# deliberate differences, by input (json.dumps(input, sort_keys=True))
DIFFERS = {}
try:
    with open(OUT) as f:
        for v in json.load(f)["vectors"]:
            if "differs" in v:
                DIFFERS[json.dumps(v["input"], sort_keys=True)] = v["differs"]
except (OSError, ValueError, KeyError):
    pass

for v in vectors:
    k = json.dumps(v["input"], sort_keys=True)
    if k in DIFFERS:
        v["differs"] = DIFFERS[k]

with open(OUT, "w") as f:
    json.dump({"reference": PIN, "vectors": vectors}, f, indent=1,
              ensure_ascii=False)
    f.write("\n")

print("%d vectors -> %s" % (len(vectors), OUT), file=sys.stderr)
