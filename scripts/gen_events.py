#!/usr/bin/env python3
"""Generates a deterministic stream of banking events as JSONL (one event object per line).

Every event carries type, account_id, owner, currency, ts (RFC 3339), event_id and, for money
movements, an exact two-place decimal amount written as a JSON number. Used by --demo (the
examples file), the tests and the benchmarks.

usage: gen_events.py [--events N] [--accounts N] [--seed S] [--bad N] [--start 2025-07-01]
"""
import argparse
import datetime
import json
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--accounts", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--bad", type=int, default=0, help="malformed events mixed in")
    ap.add_argument("--start", default="2025-07-01T08:00:00+00:00")
    ap.add_argument("--close", type=float, default=0.002, help="chance an event closes an account")
    ap.add_argument("--envelope", action="store_true",
                    help='write {"topic", "key", "value"} lines keyed by owner, so that all '
                         'events of a customer share a Kafka partition')
    ap.add_argument("--topic", default="account-events")
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    owners = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
    currencies = ["EUR", "USD", "GBP", "CHF"]
    t = datetime.datetime.fromisoformat(args.start)
    open_accounts = {}
    next_account = 0
    bad_at = set(rnd.sample(range(args.events), min(args.bad, args.events)))
    out = []
    for i in range(args.events):
        t += datetime.timedelta(seconds=rnd.randint(1, 90))
        ts = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        eid = "e-%08d" % i
        if i in bad_at:
            kind = rnd.choice(["notjson", "array", "nokey", "badamount"])
            if kind == "notjson":
                out.append('{"type": "Deposited", "account_id": "acc-0', )
            elif kind == "array":
                out.append("[1, 2, 3]")
            elif kind == "nokey":
                out.append(json.dumps({"type": "Deposited", "amount": 10, "currency": "EUR",
                                       "owner": "alice", "ts": ts, "event_id": eid}))
            else:
                acc = rnd.choice(list(open_accounts)) if open_accounts else "acc-00000"
                out.append(json.dumps({"type": "Deposited", "account_id": acc,
                                       "amount": "ten", "currency": "EUR", "owner": "alice",
                                       "ts": ts, "event_id": eid}))
            continue
        if not open_accounts or (len(open_accounts) < args.accounts and rnd.random() < 0.1):
            acc = "acc-%05d" % next_account
            next_account += 1
            owner = rnd.choice(owners)
            ccy = rnd.choice(currencies)
            open_accounts[acc] = (owner, ccy)
            ev = {"type": "AccountOpened", "account_id": acc, "owner": owner, "currency": ccy}
        else:
            acc = rnd.choice(sorted(open_accounts))
            owner, ccy = open_accounts[acc]
            r = rnd.random()
            if r < args.close:
                del open_accounts[acc]
                ev = {"type": "AccountClosed", "account_id": acc, "owner": owner, "currency": ccy}
            else:
                cents = rnd.randint(1, 500000)
                amount = "%d.%02d" % (cents // 100, cents % 100)
                kind = "Deposited" if r < 0.55 else ("Withdrawn" if r < 0.97 else "InterestPaid")
                ev = {"type": kind, "account_id": acc, "owner": owner, "currency": ccy,
                      "amount": "@@%s@@" % amount}
        ev["ts"] = ts
        ev["event_id"] = eid
        # Amounts as JSON numbers with their exact decimal text.
        line = json.dumps(ev, separators=(",", ":"))
        line = line.replace('"@@', "").replace('@@"', "")
        if args.envelope:
            line = '{"topic":%s,"key":%s,"value":%s}' % (json.dumps(args.topic), json.dumps(owner), line)
        out.append(line)
    print("\n".join(out))


if __name__ == "__main__":
    main()
