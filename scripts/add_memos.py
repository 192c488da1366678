#!/usr/bin/env python3
"""Adds a "memo" (and, where there is one, a "merchant") to the money movements of a banking
events file, in place and deterministically: what examples/banking-events.jsonl carries for the
card_transactions view and its full-text search.

A money movement is a well-formed Deposited, Withdrawn or InterestPaid event (an account_id and
an amount that is a JSON number; bare or in a {"topic", "key", "headers", "value"} envelope)
without a memo yet. Memos are built from a small vocabulary that follows the amount and the
account's currency: card payments, ATM withdrawals, rent, direct debits, transfers, salaries,
refunds, interest; merchant for card payments, ATM withdrawals, direct debits and refunds.
Nothing else changes: the two members are appended to the event's object as text, so every
other byte of the line (member order, the decimal text of amounts) stays as it was, and the
malformed events (on purpose) and the other events stay byte for byte.

usage: add_memos.py [--seed S] FILE
"""
import argparse
import json
import random

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]

# Per currency: (city, cash deposit branch) places; small, medium and large card payments as
# (merchant, memo); ATM withdrawals as (operator, place); direct debits as (merchant, memo).
VOCABULARY = {
    "EUR": {
        "branches": ["Berlin Alexanderplatz", "München Marienplatz", "Wien Mariahilfer Straße"],
        "small": [("Coffee Fellows", "Card payment Coffee Fellows Berlin Hbf"),
                  ("Café Einstein", "Card payment Café Einstein Unter den Linden"),
                  ("Bäckerei Schmidt", "Card payment Bäckerei Schmidt Hauptstraße"),
                  ("Starbucks", "Card payment Starbucks coffee Paris Opéra"),
                  ("BVG", "Card payment BVG ticket Berlin AB"),
                  ("Crêperie Josselin", "Card payment Crêperie Josselin Paris")],
        "medium": [("REWE", "Card payment REWE Markt Friedrichstraße Berlin"),
                   ("Deutsche Bahn", "Card payment Deutsche Bahn ticket Berlin to München"),
                   ("Monoprix", "Card payment Monoprix Paris République"),
                   ("SNCF", "Card payment SNCF train Paris to Lyon"),
                   ("Zalando", "Card payment Zalando order"),
                   ("Amazon", "Card payment Amazon order")],
        "large": [("MediaMarkt", "Card payment MediaMarkt München laptop"),
                  ("Lufthansa", "Card payment Lufthansa flight Frankfurt to New York"),
                  ("IKEA", "Card payment IKEA Berlin-Tempelhof furniture")],
        "atm": [("Berliner Sparkasse", "Berlin Alexanderplatz"),
                ("BNP Paribas", "Paris Gare du Nord"),
                ("Erste Bank", "Wien Stephansplatz")],
        "debits": [("Vodafone", "Direct debit Vodafone mobile"),
                   ("Vattenfall", "Direct debit Vattenfall electricity"),
                   ("Allianz", "Direct debit Allianz household insurance")],
        "street": "Hauptstraße 12",
    },
    "GBP": {
        "branches": ["London Victoria", "Manchester Piccadilly"],
        "small": [("Pret A Manger", "Card payment Pret A Manger London King's Cross"),
                  ("Costa Coffee", "Card payment Costa Coffee Manchester Piccadilly"),
                  ("Starbucks", "Card payment Starbucks coffee London Victoria"),
                  ("TfL", "Card payment TfL travel London")],
        "medium": [("Tesco", "Card payment Tesco Express London Bridge"),
                   ("Sainsbury's", "Card payment Sainsbury's Edinburgh"),
                   ("LNER", "Card payment LNER train London to Edinburgh"),
                   ("Amazon", "Card payment Amazon order")],
        "large": [("John Lewis", "Card payment John Lewis Oxford Street"),
                  ("British Airways", "Card payment British Airways flight London to Berlin")],
        "atm": [("Barclays", "London Victoria"), ("HSBC", "Manchester Piccadilly")],
        "debits": [("EE", "Direct debit EE mobile"), ("Octopus Energy", "Direct debit Octopus Energy"),
                   ("Aviva", "Direct debit Aviva home insurance")],
        "street": "221B Baker Street",
    },
    "USD": {
        "branches": ["New York Grand Central", "Chicago Loop"],
        "small": [("Blue Bottle Coffee", "Card payment Blue Bottle Coffee San Francisco"),
                  ("Starbucks", "Card payment Starbucks coffee New York Grand Central"),
                  ("MTA", "Card payment MTA subway New York"),
                  ("Uber", "Card payment Uber trip Chicago")],
        "medium": [("Whole Foods", "Card payment Whole Foods Market Chicago"),
                   ("Trader Joe's", "Card payment Trader Joe's San Francisco"),
                   ("Amtrak", "Card payment Amtrak train New York to Boston"),
                   ("Amazon", "Card payment Amazon order")],
        "large": [("Apple Store", "Card payment Apple Store Fifth Avenue"),
                  ("United Airlines", "Card payment United Airlines flight Chicago to Zürich")],
        "atm": [("Chase", "New York Grand Central"), ("Bank of America", "San Francisco Market Street")],
        "debits": [("Verizon", "Direct debit Verizon mobile"), ("Con Edison", "Direct debit Con Edison electricity"),
                   ("Geico", "Direct debit Geico car insurance")],
        "street": "1200 Main Street",
    },
    "CHF": {
        "branches": ["Zürich Paradeplatz", "Genève Cornavin"],
        "small": [("Sprüngli", "Card payment Sprüngli Zürich Paradeplatz"),
                  ("Starbucks", "Card payment Starbucks coffee Zürich HB"),
                  ("Vicafe", "Card payment Vicafe coffee bar Zürich"),
                  ("SBB", "Card payment SBB ticket Zürich to Bern")],
        "medium": [("Migros", "Card payment Migros Genève"),
                   ("Coop", "Card payment Coop Basel Bahnhof"),
                   ("SBB", "Card payment SBB Halbtax travelcard"),
                   ("Amazon", "Card payment Amazon order")],
        "large": [("Swiss", "Card payment Swiss flight Zürich to London"),
                  ("Interdiscount", "Card payment Interdiscount Bern television")],
        "atm": [("UBS", "Zürich Bahnhofstrasse"), ("PostFinance", "Genève Cornavin")],
        "debits": [("Swisscom", "Direct debit Swisscom mobile"), ("ewz", "Direct debit ewz electricity"),
                   ("Helsana", "Direct debit Helsana health insurance")],
        "street": "Bahnhofstrasse 7",
    },
}

EMPLOYERS = {"alice": "ACME GmbH", "bob": "Globex Ltd", "carol": "Initech Inc",
             "dave": "Müller & Söhne KG", "erin": "Umbrella AG", "frank": "Stark Industries",
             "grace": "Wayne Enterprises", "heidi": "Hôtel Lumière SARL", "ivan": "Soylent Corp",
             "judy": "Bergbahnen Zermatt AG"}
FRIEND_REASONS = ["dinner", "concert tickets", "holiday flat", "birthday present", "taxi",
                  "groceries"]


def order_number(rnd):
    return "%03d-%07d-%07d" % (rnd.randint(100, 999), rnd.randint(0, 9999999), rnd.randint(0, 9999999))


def memo_for(ev, rnd):
    """(memo, merchant or None) for a money movement."""
    amount = float(ev["amount"])
    voc = VOCABULARY.get(ev.get("currency"), VOCABULARY["EUR"])
    month = MONTHS[int(ev["ts"][5:7]) - 1] if len(ev.get("ts", "")) >= 7 else "July"
    friend = rnd.choice([o for o in EMPLOYERS if o != ev.get("owner")]).capitalize()
    if ev["type"] == "InterestPaid":
        return rnd.choice(["Interest %s %s" % (month, ev["ts"][:4]), "Savings interest %s" % month,
                           "Interest credit Q2 %s" % ev["ts"][:4]]), None
    if ev["type"] == "Deposited":
        r = rnd.random()
        if amount < 150 or (amount < 1500 and r < 0.5):
            if rnd.random() < 0.6:
                band = "small" if amount < 150 else "medium" if amount < 800 else "large"
                merchant, memo = rnd.choice(voc[band])
                if merchant == "Amazon":
                    return "Refund Amazon order " + order_number(rnd), "Amazon"
                return "Refund " + memo[len("Card payment "):], merchant
            return "Transfer from %s, %s" % (friend, rnd.choice(FRIEND_REASONS)), None
        if amount < 1500:
            return rnd.choice(["Cash deposit " + rnd.choice(voc["branches"]),
                               "Tax refund 2024", "Freelance invoice 2025-%04d" % rnd.randint(1, 999)]), None
        if r < 0.5:
            return "Salary %s %s" % (month, EMPLOYERS.get(ev.get("owner"), "ACME GmbH")), None
        if r < 0.7:
            return "Transfer from savings", None
        if r < 0.85:
            return "Freelance invoice 2025-%04d" % rnd.randint(1, 999), None
        return rnd.choice(["Dividend payout", "Insurance claim payout", "Bonus %s" % month]), None
    # Withdrawn
    r = rnd.random()
    if amount < 150:
        if r < 0.7:
            merchant, memo = rnd.choice(voc["small"])
            return memo, merchant
        operator, place = rnd.choice(voc["atm"])
        return "ATM withdrawal " + place, operator
    if amount < 800:
        if r < 0.5:
            merchant, memo = rnd.choice(voc["medium"])
            if merchant in ("Amazon", "Zalando"):
                memo += " " + order_number(rnd)
            return memo, merchant
        if r < 0.7:
            operator, place = rnd.choice(voc["atm"])
            return "ATM withdrawal " + place, operator
        if r < 0.85:
            merchant, memo = rnd.choice(voc["debits"])
            return "%s %s" % (memo, month), merchant
        return "Transfer to %s, %s" % (friend, rnd.choice(FRIEND_REASONS)), None
    if amount < 2500:
        if r < 0.3:
            return "Rent %s %s" % (month, voc["street"]), None
        if r < 0.6:
            merchant, memo = rnd.choice(voc["large"])
            return memo, merchant
        if r < 0.8:
            return "Transfer to savings", None
        return rnd.choice(["Credit card bill %s" % month, "Standing order gym membership %s" % month]), None
    if r < 0.35:
        return "Rent %s %s" % (month, voc["street"]), None
    if r < 0.7:
        return "Transfer to savings", None
    if r < 0.85:
        merchant, memo = rnd.choice(voc["large"])
        return memo, merchant
    return "Car loan instalment %s" % month, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=20250701)
    ap.add_argument("file")
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    with open(args.file, encoding="utf-8") as f:
        lines = f.read().split("\n")
    added = 0
    for i, line in enumerate(lines):
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if not isinstance(doc, dict):
            continue
        envelope = isinstance(doc.get("value"), dict) and "topic" in doc
        ev = doc["value"] if envelope else doc
        if (ev.get("type") not in ("Deposited", "Withdrawn", "InterestPaid") or "memo" in ev or
                not isinstance(ev.get("account_id"), str) or
                not isinstance(ev.get("amount"), (int, float)) or isinstance(ev.get("amount"), bool)):
            continue
        # The event object is the line's last: insert before its closing brace.
        close = 2 if envelope else 1
        if not line.endswith("}" * close):
            continue
        memo, merchant = memo_for(ev, rnd)
        extra = ',"memo":' + json.dumps(memo, ensure_ascii=False)
        if merchant:
            extra += ',"merchant":' + json.dumps(merchant, ensure_ascii=False)
        new = line[:-close] + extra + "}" * close
        check = json.loads(new)
        (check["value"] if envelope else check).pop("merchant", None)
        (check["value"] if envelope else check).pop("memo")
        assert check == doc, line
        lines[i] = new
        added += 1
    with open(args.file, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    print("memos added to %d events" % added)


if __name__ == "__main__":
    main()
