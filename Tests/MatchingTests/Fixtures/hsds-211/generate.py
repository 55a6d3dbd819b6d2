#!/usr/bin/env python3
"""Generates a 211 directory as an Open Referral HSDS 2.0 data package, with the properties of a
real 211 export that the import must cope with (no public 211 export can be shipped with the
tests: their licences forbid redistribution):

- taxonomy terms of the AIRS/211 LA County Taxonomy across every top-level branch and many
  second- to fifth-level codes, some services with target-population (Y) terms only;
- terms linked from services_taxonomy.csv but missing from taxonomy.csv (the id is the code);
- services whose organization row is missing, or that name no organization;
- languages written as codes, as English names ("Creole", "Hebrew"), as French names, as lists
  ("English, Spanish") and as sentences ("translation services sometimes available");
- services without any taxonomy term, and services only in branches that are no need category
  (information lines, pet care);
- a few rows that cannot be imported (no name, a repeated id).

Deterministic (fixed seed): `python3 generate.py` rewrites the fixture beside this script;
`python3 generate.py --services 10000 --out DIR` writes a larger one (the import benchmark).
The place names and phone numbers are made up (555 numbers).
"""
import argparse
import csv
import json
import pathlib
import random

TERMS = [  # (AIRS code, name, weight)
    ("BD-1800.2000", "Food Pantries", 30), ("BD-5000.8300", "Soup Kitchens", 10), ("BD-1800.1900", "Food Banks/Food Distribution Warehouses", 6),
    ("BD-2400.1500", "Food Stamps/SNAP", 6), ("BD-5000.1500", "Congregate Meals/Nutrition Sites", 5), ("BD-5000.5000", "Home Delivered Meals", 5),
    ("BH-1800.8500", "Homeless Shelter", 12), ("BH-1800.1500-100", "Domestic Violence Shelters", 4), ("BH-3800.7000", "Rent Payment Assistance", 10),
    ("BH-8400.6000", "Transitional Housing/Shelter", 5), ("BH-3000.3550", "Housing Search Assistance", 6), ("BH-7000.4600", "Low Income/Subsidized Rental Housing", 6),
    ("BM-3000.1500", "Clothing", 6), ("BM-6500.6500", "Personal/Grooming Supplies", 3), ("BM-3000.2000", "Furniture", 2),
    ("BR-3500.3500", "General Relief", 4), ("BT-4500.6500-800", "Medical Appointment Transportation", 6), ("BT-8300.1000", "Bus Fare", 3),
    ("BV-8900.9300-180", "Electric Service Payment Assistance", 8), ("BV-8900.9300-950", "Water Service Payment Assistance", 3),
    ("DD-1500.1500", "Consumer Complaints", 1), ("DF-4500", "Licensing Boards", 1), ("DM-1500", "Credit Counseling", 3), ("DT-8000.3000", "Income Tax Preparation Assistance", 4),
    ("FC-8200", "Small Claims Courts", 1), ("FF-0500.1800", "Correctional Facilities", 1), ("FJ-2000", "Court Ordered Individual Services", 1),
    ("FL-8000", "Sheriff", 1), ("FN-1500.1900", "Crime Victim Support", 3), ("FP-1400", "Court Representation", 2), ("FR-3000", "Legal Information", 2),
    ("FT-3000", "Immigration Legal Services", 4), ("FT-4500", "Legal Counseling", 3), ("FT-6300", "Protective Orders", 2),
    ("HD-1800.8000", "Public Schools", 2), ("HH-0500.8000", "English as a Second Language", 6), ("HH-0500", "Adult Basic Education", 4),
    ("HH-1600", "Computer Classes", 4), ("HL-8120.7000", "Tutoring Services", 3), ("HL-8120.1000", "Student Financial Aid", 2),
    ("JD-1500", "Community Clean Up/Beautification", 1), ("JP-1500", "Disease Control", 2), ("JR-8200", "Emergency Preparedness", 1),
    ("LD-1500", "Emergency Room Care", 2), ("LF-4900", "Health Screening", 3), ("LH-5000.1750", "Durable Medical Equipment", 3),
    ("LJ-2000", "Family Planning", 2), ("LL-3000", "General Acute Care Hospitals", 2), ("LN-1500", "Community Clinics", 10),
    ("LR-6500", "Physical Therapy", 2), ("LT-1750", "Diabetes Management", 2), ("LV-1600", "Dental Care", 5),
    ("ND-6500.1500", "Job Search/Placement", 8), ("ND-3500", "Job Training", 5), ("NL-1000.2500", "Disability Benefits", 4),
    ("NL-6000.2000", "Medicaid", 6), ("NS-8000.8000", "Social Security Retirement Benefits", 3),
    ("PB-1500", "Burial/Cremation Assistance", 1), ("PD-6500", "Pet Food", 1), ("PH-1250.1000", "Child Care Provider Referrals", 4),
    ("PH-6100.6500", "Parenting Education", 4), ("PH-8000.1500", "Respite Care", 3), ("PH-6500.2000", "Telephone Reassurance", 3),
    ("PH-2360.2400", "Friendly Visiting", 2), ("PL-7400.7600", "Senior Centers", 5), ("PL-6400.6500", "Parks/Recreation Areas", 2),
    ("PL-8000", "Sports/Games/Exercise", 3), ("PN-8100", "Support Groups", 6), ("PN-8100.1000-100", "Bereavement Support Groups", 3),
    ("PS-9800.9900", "Mentoring Programs", 2), ("PV-6000", "Spiritual Support", 1), ("PX-9000", "Volunteer Opportunities", 3),
    ("RF-2500", "Mental Health Evaluation", 2), ("RM-6500", "Psychiatric Hospitals", 1), ("RP-1400.8000-100", "Grief Counseling", 2),
    ("RP-1500.1400", "Individual Counseling", 6), ("RR-8300", "Peer Support", 2), ("RX-8450.1150", "Substance Use Disorder Counseling", 5),
    ("RX-8470.1000", "Detoxification", 2), ("TB-1500", "Community Groups", 1), ("TC-5500", "Museums", 2), ("TD-1600", "Community Centers", 3),
    ("TE-1500", "Small Business Development", 1), ("TH-1500", "Disaster Relief", 1), ("TJ-3000.8000", "Specialized Information and Referral", 2),
    ("TN-3000", "International Relief", 1), ("TP-6500", "Professional Associations", 1),
]
POPULATIONS = [("YB-8000", "Older Adults"), ("YB-9000", "Youth"), ("YF-3000", "Families"), ("YH-3000", "People With Disabilities"),
               ("YK-9000", "Veterans"), ("YC-1500", "Benefits Recipients"), ("YL-2000", "Farmworkers")]
LANGUAGES = ["en", "es", "fr", "Spanish", "Creole", "Hebrew", "Vietnamese", "Arabic", "Russian", "Tagalog", "Français", "Espagnol",
             "English, Spanish", "zh-Hant", "Korean", "Somali", "Amharic", "American Sign Language", "Farsi", "Polish"]
SENTENCES = ["translation services sometimes available", "interpreters on request", "varies by volunteer"]
CITIES = [("Springfield", "ST", "10001"), ("Riverton", "ST", "10002"), ("Lakeside", "ST", "10003"), ("Hillview", "ST", "10004")]


# Terms that services_taxonomy.csv links to but taxonomy.csv lacks (their id is their code).
UNLISTED = {code for index, (code, _, _) in enumerate(TERMS) if index % 15 == 7}


def generate(services, out, seed=211):
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    tables = {name: [] for name in ["organizations", "services", "locations", "services_at_location", "physical_addresses", "phones",
                                    "languages", "taxonomy", "services_taxonomy"]}
    organizations = max(1, services // 4)
    for o in range(1, organizations + 1):
        tables["organizations"].append({"id": f"org-{o}", "name": f"Community Agency {o}", "description": "", "email": "", "url": ""})
    listed_terms = {}
    weights = [weight for _, _, weight in TERMS]
    for s in range(1, services + 1):
        sid = f"svc-{s}"
        roll = rng.random()
        if roll < 0.02:
            org = f"org-missing-{s}"  # the organization row is missing
        elif roll < 0.025:
            org = ""  # no organization at all
        else:
            org = f"org-{rng.randint(1, organizations)}"
        name = rng.choice(["", "x"]) if rng.random() < 0.002 else None
        chosen = []
        shape = rng.random()
        if shape < 0.012:
            pass  # no taxonomy term at all
        elif shape < 0.017:
            chosen = [rng.choice(POPULATIONS)]  # target populations only
        else:
            for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
                code, term, _ = rng.choices(TERMS, weights)[0]
                if (code, term) not in chosen:
                    chosen.append((code, term))
            if rng.random() < 0.3:
                chosen.append(rng.choice(POPULATIONS))
        service_name = (chosen[0][1] if chosen else "General Services") + f" #{s}"
        if name == "":
            service_name = ""
        tables["services"].append({
            "id": sid, "organization_id": org, "name": service_name, "description": f"Service {s} of a 211 directory.",
            "url": f"https://example.org/services/{s}" if rng.random() < 0.5 else "", "email": "", "status": "active",
            "interpretation_services": "", "fees": "", "eligibility_description": "",
        })
        if name == "x":  # the same id again
            tables["services"].append(dict(tables["services"][-1], name="Duplicate"))
        lid = f"loc-{s}"
        city, region, postal = rng.choice(CITIES)
        tables["locations"].append({"id": lid, "organization_id": org, "name": f"Site {s}",
                                    "latitude": f"{40 + rng.random():.5f}", "longitude": f"{-75 - rng.random():.5f}", "location_type": "physical"})
        tables["services_at_location"].append({"id": f"sal-{s}", "service_id": sid, "location_id": lid})
        tables["physical_addresses"].append({"id": f"addr-{s}", "location_id": lid, "address_1": f"{rng.randint(1, 999)} Main St",
                                             "city": city, "state_province": region, "postal_code": postal, "country": "US"})
        tables["phones"].append({"id": f"ph-{s}", "service_id": sid, "number": f"555-01{s % 100:02d}", "type": "voice"})
        for index, language in enumerate(rng.sample(LANGUAGES, rng.choice([0, 1, 1, 2]))):
            tables["languages"].append({"id": f"lang-{s}-{index}", "service_id": sid, "language": language})
        if rng.random() < 0.02:
            tables["languages"].append({"id": f"lang-{s}-x", "service_id": sid, "language": rng.choice(SENTENCES)})
        for index, (code, term) in enumerate(chosen):
            # Some terms are linked but absent from taxonomy.csv, as in partial exports.
            if code not in UNLISTED:
                listed_terms[code] = term
            tables["services_taxonomy"].append({"id": f"st-{s}-{index}", "service_id": sid, "taxonomy_id": code, "taxonomy_detail": ""})
    for code, term in sorted(listed_terms.items()):
        parent = code.split("-")[0] if "-" in code else code[0]
        tables["taxonomy"].append({"id": code, "name": term, "parent_id": parent, "parent_name": "", "vocabulary": "AIRS"})
    resources = []
    for name, rows in tables.items():
        columns = list(rows[0].keys()) if rows else ["id"]
        with open(out / f"{name}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\r\n")
            writer.writeheader()
            writer.writerows(rows)
        resources.append({"name": name, "path": f"{name}.csv", "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
                          "schema": {"fields": [{"name": column, "type": "string"} for column in columns]}})
    descriptor = {"name": "generated-211-directory", "title": "A generated 211 directory (HSDS 2.0)", "profile": "tabular-data-package",
                  "licenses": [{"name": "CC0-1.0", "title": "Generated data, no rights reserved"}],
                  "sources": [{"title": "Tests/MatchingTests/Fixtures/hsds-211/generate.py, seed 211"}], "resources": resources}
    (out / "datapackage.json").write_text(json.dumps(descriptor, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parent)
    arguments = parser.parse_args()
    generate(arguments.services, arguments.out)
