"""The randomized fault harness of issue 9: real processes, faults drawn from a seed.

C{bench/chaos.py} runs it from the command line (docs/reliability.md);
C{tests/integration/test_chaos.py} runs two fixed short schedules.

  - L{inputs}: what is written into the followed logs, each line with its
    kind;
  - L{schedule}: a seed drawn into phases of faults;
  - L{cluster}: the processes (3 bucks, 1-2 tailers, the porter), the
    faults done to them and the waits;
  - L{ledger}: counting in and out (index, archive, bucks, spools);
  - L{runner}: one schedule run from start to verdict, and the tables.
"""
