#!/usr/bin/env python3
"""Writes the demo catalogue beside this script as an Open Referral HSDS 2.0 data package:
about 200 community resources in French and English around three sites (an urban community
health centre, a rural one, a francophone one), covering every need category, with
coordinates, schedules, eligibility and capacity. Deterministic: the same files every run.
Taxonomy terms are the directory terms of deploy/hsds/taxonomy-mapping.json.

    python3 deploy/demo/catalogue/generate.py
"""
import csv
import json
import os
import random

here = os.path.dirname(os.path.abspath(__file__))
random.seed(20240611)

SITES = {
    "ottawa-centretown-chc": {"org": "Centretown Community Health Centre", "centre": (45.4148, -75.6950), "city": "Ottawa",
                              "postal": "K2P", "languages": ["en", "fr"], "street": "Bank Street"},
    "ottawa-west-chc": {"org": "Centre de santé communautaire Ouest", "centre": (45.4010, -75.7230), "city": "Ottawa",
                        "postal": "K1Y", "languages": ["fr", "en"], "street": "rue Wellington Ouest"},
    "rural-east": {"org": "Centre de santé communautaire de l'Estrie rurale", "centre": (45.2680, -75.1430), "city": "Casselman",
                   "postal": "K0A", "languages": ["fr", "en"], "street": "rue Principale"},
}

# (English name, French name, taxonomy term, kind, tags, seats or None)
TEMPLATES = [
    ("Walking club", "Club de marche", "Walking Groups", "health-champion-group", ["walking"], 20),
    ("Knitting circle", "Cercle de tricot", "Arts and Crafts", "health-champion-group", ["knitting", "crafts"], 12),
    ("Community kitchen", "Cuisine collective", "Community Kitchen", "internal-program", ["cooking"], 10),
    ("Food bank", "Banque alimentaire", "Food Pantry", "external-partner", ["cooking"], None),
    ("Grief support circle", "Cercle de soutien au deuil", "Bereavement Support Groups", "internal-program", ["talking"], 10),
    ("Museum visits", "Visites de musée", "Museums", "external-partner", ["museums", "history"], 15),
    ("Art gallery afternoons", "Après-midi en galerie d'art", "Art Galleries", "external-partner", ["painting", "museums"], 15),
    ("Community garden", "Jardin communautaire", "Community Gardens", "external-partner", ["gardening"], 25),
    ("Legal clinic", "Clinique juridique", "Legal Aid", "external-partner", [], None),
    ("Newcomer network", "Réseau des nouveaux arrivants", "Immigrant Services", "external-partner", ["languages"], None),
    ("Digital literacy class", "Atelier de littératie numérique", "Computer Classes", "internal-program", ["computers"], 8),
    ("Peer support group", "Groupe d'entraide", "Peer Support", "health-champion-group", ["talking"], 12),
    ("Health Champion chair yoga", "Yoga sur chaise avec une championne santé", "Physical Fitness", "health-champion-group", ["yoga"], 14),
    ("Friendly visiting", "Visites d'amitié", "Friendly Visiting", "external-partner", ["talking"], None),
    ("Telephone reassurance calls", "Appels d'amitié", "Telephone Reassurance", "external-partner", [], None),
    ("Seniors' social club", "Club social des aînés", "Senior Centers", "external-partner", ["cards", "board games"], 30),
    ("Tax clinic", "Clinique d'impôts", "Tax Preparation", "external-partner", [], None),
    ("Employment counselling", "Counselling en emploi", "Help Find Work", "external-partner", [], None),
    ("Housing help desk", "Aide au logement", "Help Find Housing", "external-partner", [], None),
    ("Community ride program", "Programme de transport communautaire", "Medical Transportation", "external-partner", [], None),
    ("Caregiver coffee group", "Café des proches aidants", "Caregiver Support", "internal-program", ["talking"], 12),
    ("Adult literacy", "Alphabétisation des adultes", "Literacy", "external-partner", ["reading"], 10),
    ("Choir for everyone", "Chorale pour tous", "Arts and Culture", "health-champion-group", ["singing", "music"], 30),
    ("Nature walks", "Randonnées nature", "Parks", "health-champion-group", ["hiking", "birdwatching", "walking"], 15),
    ("Recovery support group", "Groupe de soutien au rétablissement", "Recovery Support Groups", "external-partner", [], 12),
    ("Parenting drop-in", "Halte-parents", "Parenting Education", "internal-program", [], 15),
    ("Child care referrals", "Orientation vers la garde d'enfants", "Child Care", "external-partner", [], None),
    ("Energy bill assistance", "Aide pour les factures d'énergie", "Utility Assistance", "external-partner", [], None),
    ("Safety planning support", "Soutien à la planification de la sécurité", "Domestic Violence", "external-partner", [], None),
    ("Health literacy workshops", "Ateliers de littératie en santé", "Health Education", "internal-program", ["reading"], 12),
    ("Mindfulness group", "Groupe de pleine conscience", "Stress Management", "internal-program", ["yoga"], 12),
    ("Men's shed", "Atelier des hommes", "Social Clubs", "health-champion-group", ["woodworking"], 12),
    ("Conversation café", "Café-causerie", "Social Clubs", "health-champion-group", ["languages", "talking"], 20),
]
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
ACCESS = ["step-free access", "accessible washroom", "hearing loop", "large print"]

tables = {name: [] for name in ["organizations", "services", "locations", "services_at_location", "physical_addresses", "phones",
                                "languages", "regular_schedules", "eligibility", "taxonomy", "services_taxonomy",
                                "accessibility_for_disabilities", "service_area"]}
columns = {
    "organizations": ["id", "name", "description", "email", "url"],
    "services": ["id", "organization_id", "name", "description", "url", "email", "status", "interpretation_services", "fees",
                 "minimum_age", "maximum_age", "assured_date", "kind", "tags", "seats", "waitlist_allowed", "delivery"],
    "locations": ["id", "organization_id", "name", "latitude", "longitude", "location_type"],
    "services_at_location": ["id", "service_id", "location_id"],
    "physical_addresses": ["id", "location_id", "address_1", "city", "state_province", "postal_code", "country"],
    "phones": ["id", "service_id", "number", "type"],
    "languages": ["id", "service_id", "language"],
    "regular_schedules": ["id", "service_id", "weekday", "opens_at", "closes_at"],
    "eligibility": ["id", "service_id", "eligibility"],
    "taxonomy": ["id", "name", "parent_id", "parent_name", "vocabulary"],
    "services_taxonomy": ["id", "service_id", "taxonomy_id"],
    "accessibility_for_disabilities": ["id", "location_id", "accessibility", "details"],
    "service_area": ["id", "service_id", "service_area"],
}
terms = {}
count = 0
for site, info in SITES.items():
    organisation = f"org-{site}"
    tables["organizations"].append([organisation, info["org"], "Community health centre", "", ""])
    partner = f"org-{site}-partners"
    tables["organizations"].append([partner, f"Partenaires communautaires — {info['city']}", "Community partners", "", ""])
    for index, (english, french, term, kind, tags, seats) in enumerate(TEMPLATES):
        for variant in range(2):
            if count >= 200:
                continue
            count += 1
            service = f"{site}-{index:02d}-{variant}"
            french_first = info["languages"][0] == "fr" and (site != "ottawa-centretown-chc" or variant == 1)
            name = french if french_first else english
            if variant == 1:
                name += " (2)" if not french_first else " (groupe 2)"
            org = organisation if kind != "external-partner" else partner
            remote = term in ("Telephone Reassurance",) or (kind == "external-partner" and random.random() < 0.1)
            delivery = "phone" if term == "Telephone Reassurance" else ("virtual" if remote else "in-person")
            minimum = random.choice(["", "", "", "18", "55", "65"])
            if term in ("Parenting Education", "Child Care"):
                minimum = "16"
            languages = info["languages"] if random.random() < 0.7 else info["languages"][:1]
            description = (f"{french} — {english}. " if french_first else f"{english} — {french}. ") + \
                          ("Gratuit, sans rendez-vous." if french_first else "Free, drop in.")
            tables["services"].append([
                service, org, name, description, "", "", "active", "yes" if random.random() < 0.25 else "", "Gratuit / Free",
                minimum, "", "2024-06-01", kind, ";".join(tags), "" if seats is None else str(seats),
                "true" if random.random() < 0.4 else "false", delivery])
            if delivery == "in-person":
                location = f"{service}-location"
                latitude = info["centre"][0] + random.uniform(-0.04, 0.04) * (3 if site == "rural-east" else 1)
                longitude = info["centre"][1] + random.uniform(-0.05, 0.05) * (3 if site == "rural-east" else 1)
                tables["locations"].append([location, org, name, f"{latitude:.5f}", f"{longitude:.5f}", "physical"])
                tables["services_at_location"].append([f"{service}-at", service, location])
                tables["physical_addresses"].append([f"{location}-address", location, f"{random.randint(10, 1900)} {info['street']}",
                                                     info["city"], "ON", f"{info['postal']} {random.randint(1, 9)}X{random.randint(1, 9)}", "CA"])
                for feature in random.sample(ACCESS, random.randint(0, 2)):
                    tables["accessibility_for_disabilities"].append([f"{location}-{feature.replace(' ', '-')}", location, feature, ""])
            else:
                tables["phones"].append([f"{service}-phone", service, f"613-555-{random.randint(1000, 9999)}", "voice"])
            for language in languages:
                tables["languages"].append([f"{service}-{language}", service, language])
            day = random.randint(1, 7)
            start = random.choice([9, 10, 13, 14, 18])
            tables["regular_schedules"].append([f"{service}-schedule", service, str(day), f"{start:02d}:00", f"{start + 2:02d}:00"])
            if minimum:
                tables["eligibility"].append([f"{service}-eligibility", service,
                                              f"À partir de {minimum} ans" if french_first else f"Ages {minimum} and over"])
            if site == "rural-east" and random.random() < 0.3:
                tables["service_area"].append([f"{service}-area", service, "K0A"])
            terms.setdefault(term, f"term-{len(terms) + 1:03d}")
            tables["services_taxonomy"].append([f"{service}-term", service, terms[term]])
for term, identifier in terms.items():
    tables["taxonomy"].append([identifier, term, "", "", "211 / Open Eligibility"])

resources = []
for name, rows in tables.items():
    path = os.path.join(here, f"{name}.csv")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(columns[name])
        writer.writerows(rows)
    resources.append({"name": name, "path": f"{name}.csv", "profile": "tabular-data-resource", "format": "csv",
                      "mediatype": "text/csv", "encoding": "utf-8",
                      "schema": {"fields": [{"name": column, "type": "string"} for column in columns[name]]}})
with open(os.path.join(here, "datapackage.json"), "w", encoding="utf-8") as handle:
    json.dump({"name": "passerelle-demo-catalogue", "title": "Passerelle demo community resource catalogue",
               "profile": "tabular-data-package", "resources": resources}, handle, indent=2, ensure_ascii=False)
    handle.write("\n")
print(f"wrote {count} services to {here}")
