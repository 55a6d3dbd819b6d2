// swift-format-ignore-file
/// The built-in crosswalk of the AIRS/211 LA County Taxonomy crosswalk: the same text as deploy/hsds/airs-crosswalk.json
/// (written by deploy/hsds/embed.py; a test keeps them equal).
extension TaxonomyMapping {
    static let airsCrosswalkJSON = #"""
{
  "format": "passerelle-taxonomy-crosswalk/1",
  "taxonomy": "AIRS/211 LA County Taxonomy",
  "version": "1.0.0",
  "updated": "2026-12-06",
  "review": "Decisions (which need category each branch serves, or none) are Passerelle's and change only through review, with the version raised. Branch codes and names follow the published outline of the AIRS/211 LA County Taxonomy; the taxonomy itself is licensed by 211 LA and is not copied here beyond the codes and names a crosswalk needs. Check codes against a licensed copy when one is at hand: a code missing here falls back to its parent branch.",
  "description": "Crosswalk from the AIRS/211 LA County Taxonomy of Human Services to Passerelle need categories. Every top-level branch (B, D, F, H, J, L, N, P, R, T, Y) and its second-level branches are decided here, with English and French labels; a few deeper codes and term names refine them. A term takes the most specific rule that matches it: a code rule for its own code first, then a rule naming the term (by name or id), then the code rule with the longest prefix of its code. Rules with an empty category list are reviewed decisions that the branch is no need of social prescribing: its services import uncategorised, for review. Target-population codes (Y) describe who is served: they go to eligibility, never to needs. Codes in this file are read only from terms whose code looks like an AIRS code (codePattern).",
  "codePattern": "^[A-Z]{1,2}(-[0-9]{4}(\\.[0-9]{4}(-[0-9]{3}(\\.[0-9]{2})?)?)?)?$",
  "rules": [
    {
      "code": "B",
      "en": "Basic Needs",
      "fr": "Besoins de base",
      "categories": [],
      "note": "Too broad to choose a need: the second level decides."
    },
    {
      "code": "BD",
      "en": "Food",
      "fr": "Alimentation",
      "categories": [
        "food-security"
      ]
    },
    {
      "code": "BD-1800.2000",
      "en": "Food Pantries",
      "fr": "Banques alimentaires",
      "categories": [
        "food-security"
      ]
    },
    {
      "code": "BH",
      "en": "Housing/Shelter",
      "fr": "Logement et hébergement",
      "categories": [
        "housing"
      ]
    },
    {
      "code": "BM",
      "en": "Material Goods",
      "fr": "Biens matériels",
      "categories": [
        "income"
      ],
      "note": "Clothing, furniture and household goods ease a tight budget."
    },
    {
      "code": "BR",
      "en": "Temporary Financial Assistance",
      "fr": "Aide financière temporaire",
      "categories": [
        "income"
      ]
    },
    {
      "code": "BT",
      "en": "Transportation",
      "fr": "Transport",
      "categories": [
        "transportation"
      ]
    },
    {
      "code": "BV",
      "en": "Utilities",
      "fr": "Services publics (énergie, eau)",
      "categories": [
        "utilities"
      ]
    },
    {
      "code": "D",
      "en": "Consumer Services",
      "fr": "Services aux consommateurs",
      "categories": [
        "income"
      ]
    },
    {
      "code": "DD",
      "en": "Consumer Assistance and Protection",
      "fr": "Aide et protection des consommateurs",
      "categories": [
        "legal",
        "income"
      ]
    },
    {
      "code": "DF",
      "en": "Consumer Regulation",
      "fr": "Réglementation de la consommation",
      "categories": [
        "legal"
      ]
    },
    {
      "code": "DM",
      "en": "Money Management",
      "fr": "Gestion de l'argent",
      "categories": [
        "income"
      ]
    },
    {
      "code": "DT",
      "en": "Tax Organizations and Services",
      "fr": "Organismes et services fiscaux",
      "categories": [
        "income"
      ]
    },
    {
      "code": "F",
      "en": "Criminal Justice and Legal Services",
      "fr": "Justice pénale et services juridiques",
      "categories": [
        "legal"
      ]
    },
    {
      "code": "FC",
      "en": "Courts",
      "fr": "Tribunaux",
      "categories": [
        "legal"
      ]
    },
    {
      "code": "FF",
      "en": "Criminal Correctional System",
      "fr": "Système correctionnel",
      "categories": [
        "legal"
      ]
    },
    {
      "code": "FJ",
      "en": "Judicial Services",
      "fr": "Services judiciaires",
      "categories": [
        "legal"
      ]
    },
    {
      "code": "FL",
      "en": "Law Enforcement Agencies",
      "fr": "Services de police",
      "categories": [
        "legal",
        "personal-safety"
      ]
    },
    {
      "code": "FN",
      "en": "Law Enforcement Services",
      "fr": "Services de maintien de l'ordre",
      "categories": [
        "personal-safety",
        "legal"
      ]
    },
    {
      "code": "FP",
      "en": "Legal Assistance Modalities",
      "fr": "Modalités d'aide juridique",
      "categories": [
        "legal"
      ]
    },
    {
      "code": "FR",
      "en": "Legal Education/Information",
      "fr": "Information et éducation juridiques",
      "categories": [
        "legal"
      ]
    },
    {
      "code": "FT",
      "en": "Legal Services",
      "fr": "Services juridiques",
      "categories": [
        "legal"
      ]
    },
    {
      "code": "H",
      "en": "Education",
      "fr": "Éducation",
      "categories": [
        "learning-literacy"
      ]
    },
    {
      "code": "HD",
      "en": "Educational Institutions/Schools",
      "fr": "Établissements d'enseignement",
      "categories": [
        "learning-literacy"
      ]
    },
    {
      "code": "HH",
      "en": "Educational Programs",
      "fr": "Programmes éducatifs",
      "categories": [
        "learning-literacy"
      ]
    },
    {
      "code": "HL",
      "en": "Educational Support Services",
      "fr": "Services de soutien à l'éducation",
      "categories": [
        "learning-literacy"
      ]
    },
    {
      "code": "J",
      "en": "Environment and Public Health/Safety",
      "fr": "Environnement, santé et sécurité publiques",
      "categories": [
        "personal-safety"
      ]
    },
    {
      "code": "JD",
      "en": "Environmental Protection and Improvement",
      "fr": "Protection et amélioration de l'environnement",
      "categories": [
        "nature"
      ]
    },
    {
      "code": "JP",
      "en": "Public Health",
      "fr": "Santé publique",
      "categories": [
        "health-literacy"
      ]
    },
    {
      "code": "JR",
      "en": "Public Safety",
      "fr": "Sécurité publique",
      "categories": [
        "personal-safety"
      ]
    },
    {
      "code": "L",
      "en": "Health Care",
      "fr": "Soins de santé",
      "categories": [
        "health-literacy"
      ],
      "note": "Clinical care is not prescribed socially; a link worker helps a client find and understand it."
    },
    {
      "code": "LD",
      "en": "Emergency Medical Care",
      "fr": "Soins médicaux d'urgence",
      "categories": [
        "health-literacy"
      ]
    },
    {
      "code": "LF",
      "en": "Health Screening/Diagnostic Services",
      "fr": "Dépistage et diagnostic",
      "categories": [
        "health-literacy"
      ]
    },
    {
      "code": "LH",
      "en": "Health Supportive Services",
      "fr": "Services de soutien en santé",
      "categories": [
        "health-literacy"
      ]
    },
    {
      "code": "LJ",
      "en": "Human Reproduction",
      "fr": "Reproduction humaine",
      "categories": [
        "health-literacy"
      ]
    },
    {
      "code": "LL",
      "en": "Inpatient Health Facilities",
      "fr": "Établissements de soins hospitaliers",
      "categories": [
        "health-literacy"
      ]
    },
    {
      "code": "LN",
      "en": "Outpatient Health Facilities",
      "fr": "Établissements de soins ambulatoires",
      "categories": [
        "health-literacy"
      ]
    },
    {
      "code": "LR",
      "en": "Rehabilitation/Habilitation Services",
      "fr": "Services de réadaptation",
      "categories": [
        "health-literacy",
        "physical-activity"
      ]
    },
    {
      "code": "LT",
      "en": "Specialized Treatment and Prevention",
      "fr": "Traitement spécialisé et prévention",
      "categories": [
        "health-literacy"
      ]
    },
    {
      "code": "LV",
      "en": "Specialty Medicine",
      "fr": "Médecine spécialisée",
      "categories": [
        "health-literacy"
      ]
    },
    {
      "code": "N",
      "en": "Income Support and Employment",
      "fr": "Soutien du revenu et emploi",
      "categories": [
        "income"
      ]
    },
    {
      "code": "ND",
      "en": "Employment",
      "fr": "Emploi",
      "categories": [
        "employment"
      ]
    },
    {
      "code": "NL",
      "en": "Public Assistance Programs",
      "fr": "Programmes d'aide publique",
      "categories": [
        "income"
      ]
    },
    {
      "code": "NS",
      "en": "Social Insurance Programs",
      "fr": "Programmes d'assurance sociale",
      "categories": [
        "income"
      ]
    },
    {
      "code": "P",
      "en": "Individual and Family Life",
      "fr": "Vie individuelle et familiale",
      "categories": [
        "social-isolation"
      ]
    },
    {
      "code": "PB",
      "en": "Death Certification/Burial Arrangements",
      "fr": "Décès et funérailles",
      "categories": [
        "bereavement"
      ]
    },
    {
      "code": "PD",
      "en": "Domestic Animal Services",
      "fr": "Services pour animaux domestiques",
      "categories": [],
      "note": "Pet care is no need category of social prescribing; such services stay uncategorised for review."
    },
    {
      "code": "PH",
      "en": "Individual and Family Support Services",
      "fr": "Services de soutien aux personnes et aux familles",
      "categories": [
        "caregiver-support",
        "social-isolation"
      ]
    },
    {
      "code": "PL",
      "en": "Leisure Activities/Recreation",
      "fr": "Loisirs et activités récréatives",
      "categories": [
        "physical-activity",
        "social-isolation"
      ]
    },
    {
      "code": "PN",
      "en": "Mutual Support",
      "fr": "Entraide",
      "categories": [
        "mental-wellbeing",
        "social-isolation"
      ]
    },
    {
      "code": "PN-8100",
      "en": "Support Groups",
      "fr": "Groupes de soutien",
      "categories": [
        "mental-wellbeing",
        "loneliness"
      ]
    },
    {
      "code": "PS",
      "en": "Social Development and Enrichment",
      "fr": "Développement social et enrichissement",
      "categories": [
        "social-isolation"
      ]
    },
    {
      "code": "PV",
      "en": "Spirituality/Religion",
      "fr": "Spiritualité et religion",
      "categories": [
        "social-isolation"
      ]
    },
    {
      "code": "PX",
      "en": "Volunteer Opportunities",
      "fr": "Bénévolat",
      "categories": [
        "social-isolation"
      ]
    },
    {
      "code": "R",
      "en": "Mental Health and Substance Use Disorder Services",
      "fr": "Santé mentale et dépendances",
      "categories": [
        "mental-wellbeing"
      ]
    },
    {
      "code": "RF",
      "en": "Mental Health Evaluation",
      "fr": "Évaluation en santé mentale",
      "categories": [
        "mental-wellbeing"
      ]
    },
    {
      "code": "RM",
      "en": "Mental Health Care Facilities",
      "fr": "Établissements de soins en santé mentale",
      "categories": [
        "mental-wellbeing"
      ]
    },
    {
      "code": "RP",
      "en": "Counselling and Outpatient Mental Health Care",
      "fr": "Counselling et soins ambulatoires en santé mentale",
      "categories": [
        "mental-wellbeing"
      ]
    },
    {
      "code": "RR",
      "en": "Mental Health Support Services",
      "fr": "Services de soutien en santé mentale",
      "categories": [
        "mental-wellbeing"
      ]
    },
    {
      "code": "RX",
      "en": "Substance Use Disorder Services",
      "fr": "Services en dépendances",
      "categories": [
        "substance-use-support"
      ]
    },
    {
      "code": "T",
      "en": "Organizational/Community/International Services",
      "fr": "Services organisationnels, communautaires et internationaux",
      "categories": [
        "social-isolation"
      ]
    },
    {
      "code": "TB",
      "en": "Community Groups and Government/Administrative Offices",
      "fr": "Groupes communautaires et bureaux administratifs",
      "categories": [
        "social-isolation"
      ]
    },
    {
      "code": "TC",
      "en": "Arts and Culture",
      "fr": "Arts et culture",
      "categories": [
        "arts-culture"
      ]
    },
    {
      "code": "TD",
      "en": "Community Facilities/Centers",
      "fr": "Centres communautaires",
      "categories": [
        "social-isolation"
      ]
    },
    {
      "code": "TE",
      "en": "Community Economic Development",
      "fr": "Développement économique communautaire",
      "categories": [
        "employment"
      ]
    },
    {
      "code": "TH",
      "en": "Disaster Services",
      "fr": "Services aux sinistrés",
      "categories": [
        "personal-safety",
        "housing"
      ]
    },
    {
      "code": "TJ",
      "en": "Information Services",
      "fr": "Services d'information",
      "categories": [],
      "note": "Information and referral lines are directories themselves, not a need; reviewed one by one."
    },
    {
      "code": "TN",
      "en": "International Affairs",
      "fr": "Affaires internationales",
      "categories": [
        "newcomer-support"
      ]
    },
    {
      "code": "TP",
      "en": "Occupational/Professional Associations",
      "fr": "Associations professionnelles",
      "categories": [
        "employment"
      ]
    },
    {
      "code": "Y",
      "en": "Target Populations",
      "fr": "Populations cibles",
      "eligibility": true
    },
    {
      "code": "YB",
      "en": "Age Groups",
      "fr": "Groupes d'âge",
      "eligibility": true
    },
    {
      "code": "YC",
      "en": "Benefits Recipients",
      "fr": "Bénéficiaires de prestations",
      "eligibility": true
    },
    {
      "code": "YF",
      "en": "Family Relationships",
      "fr": "Relations familiales",
      "eligibility": true
    },
    {
      "code": "YH",
      "en": "Health/Disability Related Groups",
      "fr": "Groupes liés à la santé ou au handicap",
      "eligibility": true
    },
    {
      "code": "YK",
      "en": "Military Personnel/Contractors",
      "fr": "Personnel militaire",
      "eligibility": true
    },
    {
      "code": "YL",
      "en": "Occupations",
      "fr": "Professions",
      "eligibility": true
    },
    {
      "term": "Food Pantries",
      "fr": "Banques alimentaires",
      "categories": [
        "food-security"
      ]
    },
    {
      "term": "Soup Kitchens",
      "fr": "Soupes populaires",
      "categories": [
        "food-security",
        "social-isolation"
      ]
    },
    {
      "term": "Congregate Meals/Nutrition Sites",
      "fr": "Repas communautaires",
      "categories": [
        "food-security",
        "social-isolation"
      ]
    },
    {
      "term": "Community Gardening",
      "fr": "Jardins communautaires",
      "categories": [
        "nature",
        "food-security"
      ]
    },
    {
      "term": "Child Care Centers",
      "fr": "Garderies",
      "categories": [
        "childcare"
      ]
    },
    {
      "term": "Child Care Provider Referrals",
      "fr": "Orientation vers des services de garde",
      "categories": [
        "childcare"
      ]
    },
    {
      "term": "Parenting Education",
      "fr": "Éducation parentale",
      "categories": [
        "parenting"
      ]
    },
    {
      "term": "Respite Care",
      "fr": "Répit",
      "categories": [
        "caregiver-support"
      ]
    },
    {
      "term": "Caregiver Training",
      "fr": "Formation des proches aidants",
      "categories": [
        "caregiver-support"
      ]
    },
    {
      "term": "Telephone Reassurance",
      "fr": "Appels de bienveillance",
      "categories": [
        "loneliness"
      ]
    },
    {
      "term": "Friendly Visiting",
      "fr": "Visites d'amitié",
      "categories": [
        "loneliness"
      ]
    },
    {
      "term": "Senior Centers",
      "fr": "Centres pour aînés",
      "categories": [
        "social-isolation",
        "loneliness"
      ]
    },
    {
      "term": "Grief Counseling",
      "fr": "Counselling en deuil",
      "categories": [
        "bereavement"
      ]
    },
    {
      "term": "Bereavement Support Groups",
      "fr": "Groupes de soutien au deuil",
      "categories": [
        "bereavement",
        "loneliness"
      ]
    },
    {
      "term": "Walking Clubs",
      "fr": "Clubs de marche",
      "categories": [
        "physical-activity",
        "social-isolation"
      ]
    },
    {
      "term": "Exercise Classes/Groups",
      "fr": "Cours et groupes d'exercice",
      "categories": [
        "physical-activity"
      ]
    },
    {
      "term": "Computer Classes",
      "fr": "Cours d'informatique",
      "categories": [
        "digital-literacy"
      ]
    },
    {
      "term": "Public Internet Access Sites",
      "fr": "Accès public à Internet",
      "categories": [
        "digital-literacy"
      ]
    },
    {
      "term": "English as a Second Language",
      "fr": "Français ou anglais langue seconde",
      "categories": [
        "learning-literacy",
        "newcomer-support"
      ]
    },
    {
      "term": "Immigrant Visa Application Filing Assistance",
      "fr": "Aide aux demandes de visa d'immigrant",
      "categories": [
        "newcomer-support",
        "legal"
      ]
    },
    {
      "term": "Refugee Resettlement Services",
      "fr": "Établissement des réfugiés",
      "categories": [
        "newcomer-support"
      ]
    },
    {
      "term": "Domestic Violence Shelters",
      "fr": "Refuges pour victimes de violence conjugale",
      "categories": [
        "housing",
        "personal-safety"
      ]
    },
    {
      "term": "Domestic Violence Hotlines",
      "fr": "Lignes d'écoute violence conjugale",
      "categories": [
        "personal-safety"
      ]
    },
    {
      "term": "Museums",
      "fr": "Musées",
      "categories": [
        "arts-culture"
      ]
    },
    {
      "term": "Parks/Recreation Areas",
      "fr": "Parcs et aires de loisirs",
      "categories": [
        "nature",
        "physical-activity"
      ]
    },
    {
      "term": "Health Education",
      "fr": "Éducation à la santé",
      "categories": [
        "health-literacy"
      ]
    },
    {
      "term": "Smoking Cessation",
      "fr": "Arrêt tabagique",
      "categories": [
        "substance-use-support"
      ]
    },
    {
      "term": "Medical Transportation",
      "fr": "Transport médical",
      "categories": [
        "transportation"
      ]
    }
  ]
}
"""#
}
