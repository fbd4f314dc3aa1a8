# The two commands of the README.  Both create what they need by themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo bench clean

# The editable install builds the compiled hot path in place
# (logship/core/_speedups.c, docs/speedups.md); a change to it reinstalls.
$(STAMP): setup.py logship/core/_speedups.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet --config-settings editable_mode=compat -e '.[test]'
	$(BIN)/python -c "from twisted.plugin import IPlugin, getPlugins; list(getPlugins(IPlugin))"
	$(BIN)/python -c "from logship.core import speedups; print('logship codec:', speedups.describe())"
	touch $(STAMP)

# The browser tests drive Debian's chromium (Playwright for Python, with
# executable_path): install it when missing (as root; nothing when present).
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# The chaos harness (tests/integration/test_chaos.py, bench/chaos.py) runs
# the tailer under Debian's libfaketime to step its clock back.
# (Not named FAKETIME: that is libfaketime's own variable, which make
# would export with this value under `faketime "+400 days" make test`.)
LIBFAKETIME_CMD := /usr/bin/faketime

$(LIBFAKETIME_CMD):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime

# The syslog input's tests (tests/integration/test_syslog_process.py, test_relp_process.py) run
# Debian's rsyslogd with a private config on 127.0.0.1.
RSYSLOGD := /usr/sbin/rsyslogd

$(RSYSLOGD):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsyslog

# ... and its omrelp (Debian's rsyslog-relp) for the RELP input's tests.
OMRELP := /usr/lib/x86_64-linux-gnu/rsyslog/omrelp.so

$(OMRELP): $(RSYSLOGD)
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsyslog-relp

# Experiment 1 (bench/experiments/durability.py) counts fsync calls with
# Debian's strace.
STRACE := /usr/bin/strace

$(STRACE):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace

# The type check first (mypy.ini; a few seconds, under a second with its
# cache), then the tests.
test: $(STAMP) $(CHROMIUM) $(LIBFAKETIME_CMD) $(RSYSLOGD) $(OMRELP) $(STRACE)
	$(BIN)/mypy logship
	$(BIN)/python -m pytest -q tests

demo: $(STAMP)
	$(BIN)/logship demo $(FILES)

bench: $(STAMP)
	$(BIN)/python bench/codec.py

clean:
	rm -rf $(VENV) build *.egg-info logship/core/_speedups*.so
