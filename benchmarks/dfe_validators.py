"""Run the DfE rule validators on the synthetic county and explain every rule that fires.

The validators are the data-to-insight / Social Finance ports of DfE's published validation
rules, published on PyPI as ``csc-validator-be-903`` (SSDA903, module ``lac_validator``) and
``csc-validator-be-cin`` (CIN census, module ``cin_validator``). They pin pandas 1.5, so they
live in a SEPARATE virtual environment, never in the project's ``.venv``::

    python3 -m venv /tmp/dfe_validators_venv
    /tmp/dfe_validators_venv/bin/pip install csc-validator-be-903==0.1.17 csc-validator-be-cin==0.1.13

(``--create-venv`` does exactly that; ``--venv`` or ``DFE_VALIDATORS_VENV`` picks another path.)
The project's interpreter generates the county (or takes ``--county DIR``), then runs a small
worker in the validators' interpreter, one subprocess per validator and collection year, with
that year's ruleset (``lac2024_25`` / ``cin2024_25`` for 2025, ...) and, for SSDA903, the
previous year's header and episodes as "last year" (its SEX codes 1/2 are rewritten M/F when
this year uses M/F, as DfE moved from 1/2 to M/F in 2024/25; otherwise rule 202 "gender
changed" would fire for every child). Ofsted URN lookups are not loaded, so URN rules that
need them are skipped by the validator.

Each rule that fires is printed with its row count and the planted imperfections behind it:
a flagged row of child C in year Y is *explained* by kind K when ``ground_truth.json`` lists
a case of K, planted in the same return (SSDA903 or CIN census), for C in year Y or Y-1
(year-1 because an imperfection in last year's return shows up in this year's cross-year
rules). Rows not explained are counted and the rule is flagged ``NOT PLANTED``. That
attribution is by child, so as a stricter test the script then generates the county's CLEAN
TWIN (same seed, scale, LAs and go-live, ``imperfection_rate`` 0: the same episodes without
the planted imperfections) and runs the validators again: every rule that fires on the twin
is a realism defect of the generator, whatever the attribution says (``--no-clean-twin`` skips
it). Run::

    python benchmarks/dfe_validators.py [--county DIR] [--seed 0] [--scale 1]
        [--years 2023 2024 2025] [--validators 903 cin] [--json out.json]

Measured 2026-12-06 (default county: seed 0, scale 1, LA 931; collection years 2023-2025;
2 shared cores: the 903 validator takes 8-20 s a year, the CIN validator 50-230 s a year).
Rows flagged in 2023 / 2024 / 2025.

BEFORE the realism fixes (the generator as of e10648c; this first run did not yet recode last
year's SEX), SSDA903: 44 rules fired; apart from
142/149/501/502/503x/562 (planted) they were generator defects:

    169/179/392c postcode -> LA invalid       1770 1601 1474  sector-only postcodes ("OX4 3")
    393  girl looked after, MOTHER blank        268  238  234  MOTHER only for girls aged 12+
    607  girl left care, MOTHER blank           138   83  105  same
    202  SEX differs from last year               0    0  698  1/2 -> M/F recoding (now handled here)
    435  RNE P/T but nothing changed            122   92   69  same-carer T with nothing new
    434  RNE L but placement/URN changed         31   32   24  a new URN at every legal change
    440/441 review participation vs age           0    0 85/39 PN codes drawn regardless of age
    1015 own provision (PR1) outside the LA      37   51   46
    378  placed with parents (P1) under V2       25   23   29
    222  URN recorded for R1                     24   14   31
    217  A5 without RNE S/T/U                    13   16   19
    516  E45/E46 without a foster placement       2    3    2
    178/213/226/375/380/381/383  T1/T2 temporary placements used as ordinary ones (3-16 each)
    361/362 L1 > 72 hours / L2 > 21 days       10/1  2/2  10/0
    460  E17 ("stayed put") before the 18th       0    1   15
    210  UN4 with an episode from 24 March        2    2    0
    392d home = placement postcode, not P1        5    3    3
    574  overlapping missing periods              1    0    0
    (388/431/432/433/501, 142, 502/503A-F/562, 149, 199: mostly planted)
  CIN census, 2025 only: 2884 (2312), 4013 (1341), 8696 (2805), 8715 (1016), 8930 (600),
  8873Q (1518), 8825Q (471), 8875 weekend ICPC (489), 8890 (6), 8805 (148, planted), 2888Q.

AFTER (this commit's generator; CIN files as fd3e573 left them), the county:

    SSDA903 -- 26 rules fire, every flagged row explained by a planted imperfection:
      rule   2023 2024 2025  planted kind(s) behind it
       142    21   18   18   duplicated_row, overlapping_episodes
       149     0    1    1   code_from_another_year (E43/E44 after 2019)
       199     1    1    1   duplicated_row
       225     3    2    0   duplicated_row, overlapping_episodes
       230     0    2    0   code_from_another_year
       388    38   41   26   overlapping_episodes, duplicated_row
       431     6    6    4   duplicated_row
       432     7    8   12   duplicated_row
       433    51   61   51   duplicated_row, overlapping_episodes
       434     8   12    8   duplicated_row
       435    23   26   31   duplicated_row
       436     1    0    0   duplicated_row
       452     2    2    0   open_episode_superseded
       453     3    6    0   open_episode_superseded
       501    46   51   39   duplicated_row, overlapping_episodes
       502    12   15    9   open_episode_superseded
       562    12   15    9   open_episode_superseded
      1015     0    2    0   code_from_another_year (PLACE H5 from PR1 outside the LA)
      503A/B/D/E/F/G/H/J  1-11 each   open_episode_superseded (503D also code_from_another_year)
    CIN census (files as fd3e573 left them) -- 10 rules fire: 8805 (159 / 145 / 163:
      missing_reason_for_closure), 4012Q (3 / 3 / 0) and 8868 (0 / 2 / 0)
      (premature_closure_corrected) are planted; the rest also fire on the clean twin.

  The CLEAN TWIN (same seed, imperfection_rate 0): SSDA903 -- no rule fires in 2023, 2024 or
  2025 (also seeds 1, 2 and a two-LA county, seed 5, LAs 931 + 825). CIN census (as of
  d2e2589) -- 7 rules fire, all from the CIN writer (write_cin.py / cin_records.py):
      2884  DateOfInitialCPC at both CINdetails and Section47 level   758  654  678
      8873Q one assessment with factor 21 but closure not RC8/RC9      742  690  804
      8825Q RC8/RC9 closure with no assessment on the episode          434  386  443
      2991Q a Section47 with no assessment on the episode              376  355  362
      8890  a Section47 starting while another is open                   6    2    2
      8569Q ReferralNFA on a referral before the collection year         0    2    1
      2888Q (return level) never more than one Disability per child: write_cin.py writes one
            Disability element from population.py's single code.

CIN census after the realism fixes of d192de0 (cin_records.py / write_cin.py; measured
2026-12-06, same counties; SSDA903 files byte-identical, the new draws use a spawned
generator). A referral closed with no further action closes RC7 (RC8/RC9 mean "after
assessment"); factor 21 only at an assessment the case closes after as RC8/RC9, otherwise
a child or household factor; every section 47 is accompanied by an assessment in each file
it is in (the episode's, or one started with the enquiry, never overlapping another);
siblings share enquiries, and no enquiry starts while another of the episode is open;
DateOfInitialCPC at CIN level only when no section 47 of the child in that file carries it;
about a third of disabled children have two or three disabilities. Rows per year:

      rule   county 2023 2024 2025   clean twin   planted kind behind every county row
      8805           159  145  163      0 0 0     missing_reason_for_closure
      8873Q           10   22   18      0 0 0     missing_reason_for_closure (RC8 closure shown
                                                  without its reason)
      4012Q            3    3    0      0 0 0     premature_closure_corrected
      8867             0    2    0      0 0 0     premature_closure_corrected
      8868             0    2    0      0 0 0     premature_closure_corrected
      8569Q            0    2    1      0 2 1     validator defect, shown row by row -- below
      2884 8825Q 2991Q 8890 2888Q (and 8863Q, which a first version of the fix raised): none.

  Seed 1, clean twin: no CIN rule fires in 2023, 2024 or 2025. Every county row is explained
  by a planted imperfection except 8569Q. 8569Q is a defect of the validator port, not of
  the return: it compares CINreferralDate with collection_start - england_working_days(1),
  and england_working_days(1) is CustomBusinessDay(n=0), which rolls a non-working 1 April
  FORWARD (2023-04-01 Saturday -> 2023-04-03; 2024-04-01 Easter Monday -> 2024-04-02), so a
  referral closed NFA on Sat/Sun 1-2 April 2023 or on Easter Monday 2024 -- inside the
  collection year -- is flagged (seed 0: 2023-04-02 twice, 2024-04-01 once). DfE's rule
  ("referral date before one working day prior to the collection start") would not flag
  them. It is left as is rather than keeping NFA referrals off those days. The script shows it
  row by row (VALIDATOR_DEFECTS): a flagged child counts as explained only if none of its NFA
  referrals in that year's file is dated before the collection year. Re-run 2026-12-06, seed 0,
  CIN 2023-25: county -- "rules not explained by a planted imperfection: none"; clean twin --
  "none", 8569Q listed as a validator defect with every row shown (2 in 2024, 1 in 2025).
  lac2024_25 rule 231 fails to run inside the validator (its own error) on every county.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("csc-validator-be-903==0.1.17", "csc-validator-be-cin==0.1.13")
DEFAULT_VENV = Path(os.environ.get("DFE_VALIDATORS_VENV", "/tmp/dfe_validators_venv"))
#: LA code -> the upper-tier authority code (ONS 2021 LTLA->UTLA lookup, as the 903 validator's
#: reference data) that the validator compares the placement LA derived from PL_POST with.
LA_LONG = {"931": "E10000025", "825": "E06000060", "919": "E10000015", "916": "E10000013",
           "865": "E06000054", "850": "E10000014", "886": "E10000016", "936": "E10000030",
           "881": "E10000012", "937": "E10000031", "855": "E10000018", "925": "E10000019",
           "926": "E10000020", "935": "E10000029", "878": "E10000008", "908": "E06000052",
           "888": "E10000017", "830": "E10000007", "891": "E10000024", "933": "E10000027",
           "938": "E10000032", "845": "E10000011", "885": "E10000034", "860": "E10000028",
           "873": "E10000003"}

# Runs inside the validators' venv (pandas 1.5). Prints one line "RESULT {json}".
WORKER = r'''
import contextlib, csv, importlib, io, json, logging, sys, tempfile, time, warnings
from pathlib import Path
logging.disable(logging.CRITICAL)
warnings.filterwarnings("ignore")
job = json.loads(sys.argv[1])
la_dir, year = Path(job["la_dir"]), int(job["year"])

def sex_recoded(prev_header, this_header, tmp):
    with open(this_header, newline="") as f:
        this_codes = {r["SEX"] for r in csv.DictReader(f)}
    with open(prev_header, newline="") as f:
        rows = list(csv.DictReader(f))
    if not ({"M", "F"} & this_codes) or not rows or rows[0]["SEX"] not in ("1", "2"):
        return str(prev_header)
    out = Path(tmp) / "header.csv"
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        for r in rows:
            r["SEX"] = {"1": "M", "2": "F"}.get(r["SEX"], r["SEX"])
            w.writerow(r)
    return str(out)

def run_903(tmp):
    from lac_validator import lac_validator
    from lac_validator.utils import process_uploaded_files
    ruleset = f"lac{year - 1}_{year % 100:02d}"
    this = sorted(str(p) for p in (la_dir / "ssda903" / str(year)).glob("*.csv"))
    prev = []
    for p in sorted((la_dir / "ssda903" / str(year - 1)).glob("*.csv")):
        if p.name == "episodes.csv":
            prev.append(str(p))
        elif p.name == "header.csv":
            prev.append(sex_recoded(p, la_dir / "ssda903" / str(year) / "header.csv", tmp))
    files = process_uploaded_files({"This year": this, "Prev year": prev})
    registry = importlib.import_module(f"lac_validator.rules.{ruleset}").registry
    v = lac_validator.LacValidator(metadata={"collectionYear": str(year), "localAuthority": job["la_long"]},
                                   files=files, registry=registry)
    rules = {}
    for table, df in v.ds_results.items():
        if table == "metadata":
            continue
        for col in [c for c in df.columns if c.startswith("ERR_")]:
            hit = df[df[col] == True]
            if not len(hit):
                continue
            code = col[4:]
            r = rules.setdefault(code, {"message": registry[code].message, "rows": 0, "tables": {},
                                        "children": []})
            r["rows"] += int(len(hit))
            r["tables"][table] = int(len(hit))
            r["children"] += [str(c) for c in hit["CHILD"].tolist()]
    return {"ruleset": ruleset, "rules": rules, "failed_to_run": list(v.fails)}

def run_cin(tmp):
    import xml.etree.ElementTree as ET
    from cin_validator import cin_validator
    ruleset = f"cin{year - 1}_{year % 100:02d}"
    files = [p for p in (la_dir / "cin_census").glob("*.xml")
             if ET.parse(p).getroot().findtext("Header/CollectionDetails/Year") == str(year)]
    if not files:
        return {"ruleset": ruleset, "rules": {}, "failed_to_run": [], "missing": True}
    root = ET.parse(files[0]).getroot()
    data = cin_validator.process_data(cin_validator.convert_data(root))
    registry = importlib.import_module(f"cin_validator.rules.{ruleset}").registry
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        v = cin_validator.CinValidator(data, registry)
    messages = {str(r.code): r.message for r in registry.values()}
    rules = {}
    df = v.full_issue_df
    for code, g in df.groupby("rule_code"):
        g = g.drop_duplicates(["child_id", "tables_affected", "row_id"])
        rules[str(code)] = {"message": messages.get(str(code), ""), "rows": int(len(g)),
                            "tables": {str(k): int(n) for k, n in g["tables_affected"].value_counts().items()},
                            "children": [str(c) for c in g["child_id"].tolist()]}
    for code, message in v.multichild_issues.drop_duplicates().itertuples(index=False):
        rules.setdefault(str(code), {"message": message, "rows": 0, "tables": {"(return level)": 0},
                                     "children": []})
    failed = [line for line in buf.getvalue().splitlines() if line.startswith("Error with rule")]
    return {"ruleset": ruleset, "rules": rules, "failed_to_run": failed}

started = time.perf_counter()
with tempfile.TemporaryDirectory() as tmp:
    result = run_903(tmp) if job["validator"] == "903" else run_cin(tmp)
result.update(validator=job["validator"], year=year, seconds=round(time.perf_counter() - started, 1))
print("RESULT " + json.dumps(result))
'''


def create_venv(venv: Path) -> None:
    """``python -m venv`` + ``pip install`` of the two published validator packages."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *PACKAGES], check=True)


def run_validator(venv: Path, validator: str, la_dir: Path, year: int, la_code: str) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(WORKER)
        worker = f.name
    try:
        job = {"validator": validator, "la_dir": str(la_dir), "year": year,
               "la_long": LA_LONG.get(la_code, la_code)}
        done = subprocess.run([str(venv / "bin" / "python"), worker, json.dumps(job)],
                              capture_output=True, text=True)
    finally:
        os.unlink(worker)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(f"{validator} validator failed on {year}:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def planted_cases(truth: dict, la_code: str, validator: str | None = None) -> dict[str, set[tuple[str, int]]]:
    """Imperfection kind -> {(child id, collection year)} from ground_truth.json.

    With ``validator`` ("903" / "cin"), only the kinds planted in that return's files (their
    ``where`` starts with ``ssda903/`` or ``cin_census/``).
    """
    prefix = {"903": "ssda903/", "cin": "cin_census/"}.get(validator or "", "")
    out: dict[str, set[tuple[str, int]]] = {}
    for kind, record in truth["by_la"][la_code]["imperfections"].items():
        if record["where"].startswith(prefix):
            out[kind] = {(str(c["child"]), int(c["year"])) for c in record["cases"]}
    return out


def explain(rule: dict, year: int, planted: dict[str, set]) -> tuple[Counter, list[str]]:
    """Rows explained per planted kind, and the children of rows no planted case explains."""
    by_kind: Counter = Counter()
    unexplained: list[str] = []
    for child in rule["children"]:
        kinds = [k for k, cases in planted.items() if (child, year) in cases or (child, year - 1) in cases]
        if kinds:
            by_kind["+".join(sorted(kinds))] += 1
        else:
            unexplained.append(child)
    return by_kind, unexplained


def nfa_referrals_before_year(la_dir: Path, year: int, child: str) -> int:
    """How many of ``child``'s referrals with ReferralNFA in the CIN census of ``year`` are dated
    before that collection year began (1 April of year - 1): what DfE's rule 8569Q asks about."""
    import datetime as dt

    from lxml import etree

    start = dt.date(year - 1, 4, 1)
    for path in (la_dir / "cin_census").glob("*.xml"):
        tree = etree.parse(str(path))
        if tree.findtext("Header/CollectionDetails/Year") != str(year):
            continue
        count = 0
        for node in tree.iterfind("Children/Child"):
            if node.findtext("ChildIdentifiers/LAchildID", "").strip() != child:
                continue
            for episode in node.iterfind("CINdetails"):
                nfa = episode.findtext("ReferralNFA", "").strip().lower() in ("1", "true")
                referral = dt.date.fromisoformat(episode.findtext("CINreferralDate", "").strip())
                count += nfa and referral < start
        return count
    return 0


#: Rules whose flagged rows are the validator's own defect, each with the test that shows it
#: for a row (child, year, LA folder) and why. Only rows passing the test are counted as explained.
VALIDATOR_DEFECTS = {
    ("cin", "8569Q"): (
        lambda child, year, la_dir: nfa_referrals_before_year(la_dir, year, child) == 0,
        "validator defect: its 'first working day of the year' uses CustomBusinessDay(n=0), which "
        "moves a non-working 1 April forward, so NFA referrals dated on or just after 1 April "
        "(inside the collection year) are flagged; this child has no NFA referral before the year"),
}


def validate_county(county: Path, args, label: str) -> tuple[list[dict], dict[str, int]]:
    """Run the validators on every LA of ``county``; print each rule with its planted causes."""
    truth = json.loads((county / "ground_truth.json").read_text())
    results = []
    not_planted: dict[str, int] = defaultdict(int)
    for la_code in truth["local_authorities"]:
        planted = planted_cases(truth, la_code)
        print(f"\n=== {label}, LA {la_code}: planted imperfections "
              + ", ".join(f"{k} {len(v)}" for k, v in sorted(planted.items())))
        for validator in args.validators:
            for year in args.years:
                res = run_validator(args.venv, validator, county / la_code, year, la_code)
                res["la_code"] = la_code
                res["county"] = label
                results.append(res)
                print(f"\n--- {validator} {year} ({res['ruleset']}, {res['seconds']} s): "
                      f"{len(res['rules'])} rules fire"
                      + (f"; failed to run: {', '.join(res['failed_to_run'])}" if res["failed_to_run"] else ""))
                for code in sorted(res["rules"], key=lambda c: (len(c), c)):
                    rule = res["rules"][code]
                    by_kind, unexplained = explain(rule, year, planted_cases(truth, la_code, validator))
                    defect = VALIDATOR_DEFECTS.get((validator, code))
                    if defect is not None and unexplained:
                        test, reason = defect
                        shown = [c for c in unexplained if test(c, year, county / la_code)]
                        if shown:
                            by_kind[reason] += len(shown)
                            unexplained = [c for c in unexplained if c not in shown]
                    rule["explained"] = dict(by_kind)
                    rule["unexplained_rows"] = len(unexplained)
                    tables = ",".join(f"{t}:{n}" for t, n in rule["tables"].items())
                    why = "; ".join(f"{k} {n}" for k, n in by_kind.most_common()) or "-"
                    flag = ""
                    if unexplained or not rule["rows"]:
                        flag = f"  NOT PLANTED: {len(unexplained) if rule['rows'] else 'return-level'}"
                        not_planted[f"{validator} {code}"] += len(unexplained)
                    print(f"{validator:>3} {year} {code:>6} rows {rule['rows']:>5} [{tables}] "
                          f"planted: {why}{flag}\n{'':>18}{rule['message'][:110]}")
    print(f"\n=== {label}: rules not explained by a planted imperfection (rows over all years):")
    for key, n in sorted(not_planted.items()):
        print(f"  {key}: {n}")
    if not not_planted:
        print("  none")
    return results, not_planted


def generate(out: Path, truth: dict | None, args, imperfection_rate: float | None = None) -> None:
    """Generate a county (the twin of ``truth``'s when given) with the project's interpreter."""
    cmd = [sys.executable, "-m", "evaluation.synthetic", str(out), "--quiet"]
    if truth is not None:
        cmd += ["--seed", str(truth["seed"]), "--scale", str(truth["scale"]),
                "--local-authorities", str(len(truth["local_authorities"])),
                "--go-live", truth["dates"]["go_live"]]
    else:
        cmd += ["--seed", str(args.seed), "--scale", str(args.scale)]
    if imperfection_rate is not None:
        cmd += ["--imperfection-rate", str(imperfection_rate)]
    subprocess.run(cmd, check=True, cwd=ROOT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--county", type=Path, help="an existing synthetic county (else one is generated)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--years", type=int, nargs="+", default=[2023, 2024, 2025])
    parser.add_argument("--validators", nargs="+", default=["903", "cin"], choices=["903", "cin"])
    parser.add_argument("--no-clean-twin", action="store_true",
                        help="skip the second run on the same county generated with imperfection_rate 0")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--create-venv", action="store_true", help="create --venv if it is missing")
    parser.add_argument("--json", type=Path, help="write every result (with flagged child ids) here")
    args = parser.parse_args(argv)

    if not (args.venv / "bin" / "python").exists():
        if not args.create_venv:
            print(f"no validators venv at {args.venv}: pass --create-venv (or see the docstring)",
                  file=sys.stderr)
            return 2
        create_venv(args.venv)
    with tempfile.TemporaryDirectory(prefix="dfe_county_") as tmp:
        county = args.county
        if county is None:
            county = Path(tmp) / "county"
            generate(county, None, args)
        results, _ = validate_county(county, args, "county")
        if not args.no_clean_twin:
            truth = json.loads((county / "ground_truth.json").read_text())
            twin = Path(tmp) / "clean_twin"
            generate(twin, truth, args, imperfection_rate=0.0)
            twin_results, _ = validate_county(twin, args, "clean twin (imperfection_rate 0)")
            results += twin_results
            fired = sorted({f"{r['validator']} {code}" for r in twin_results
                            for code, rule in r["rules"].items()
                            if (r["validator"], code) not in VALIDATOR_DEFECTS
                            or rule.get("unexplained_rows", 0) or not rule["rows"]})
            defects = sorted({f"{r['validator']} {code}" for r in twin_results
                              for code in r["rules"] if (r["validator"], code) in VALIDATOR_DEFECTS}
                             - set(fired))
            print("\n=== rules firing on the clean twin (generator realism defects, not planted): "
                  + (", ".join(fired) if fired else "none")
                  + (f"; validator defects, every row shown: {', '.join(defects)}" if defects else ""))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
