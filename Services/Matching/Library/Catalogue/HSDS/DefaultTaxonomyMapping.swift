// swift-format-ignore-file
/// The built-in crosswalk of Open Eligibility and common directory terms: the same text as deploy/hsds/taxonomy-mapping.json
/// (written by deploy/hsds/embed.py; a test keeps them equal).
extension TaxonomyMapping {
    static let defaultJSON = #"""
{
  "format": "passerelle-taxonomy-crosswalk/1",
  "taxonomy": "Open Eligibility and common directory terms",
  "version": "2.0.0",
  "updated": "2026-12-06",
  "description": "Taxonomy terms of Open Referral HSDS directories (the Open Eligibility taxonomy and names common in community directories) mapped to Passerelle need categories. Term rules match a term's name, id or code without regard to case; a term may map to several categories. Terms named after a need category code (the vocabulary Passerelle exports) map to that category without being listed. AIRS/211 codes are in airs-crosswalk.json. A network's own taxonomy is a file of this format, with code rules (matched by prefix) and term rules.",
  "rules": [
    {
      "term": "Food",
      "categories": [
        "food-security"
      ]
    },
    {
      "term": "Food Pantry",
      "categories": [
        "food-security"
      ]
    },
    {
      "term": "Food Bank",
      "categories": [
        "food-security"
      ]
    },
    {
      "term": "Emergency Food",
      "categories": [
        "food-security"
      ]
    },
    {
      "term": "Meals",
      "categories": [
        "food-security"
      ]
    },
    {
      "term": "Community Meals",
      "categories": [
        "food-security",
        "social-isolation"
      ]
    },
    {
      "term": "Community Kitchen",
      "categories": [
        "food-security",
        "social-isolation"
      ]
    },
    {
      "term": "Nutrition Education",
      "categories": [
        "food-security",
        "health-literacy"
      ]
    },
    {
      "term": "Housing",
      "categories": [
        "housing"
      ]
    },
    {
      "term": "Emergency Shelter",
      "categories": [
        "housing"
      ]
    },
    {
      "term": "Help Find Housing",
      "categories": [
        "housing"
      ]
    },
    {
      "term": "Housing Counseling",
      "categories": [
        "housing"
      ]
    },
    {
      "term": "Money",
      "categories": [
        "income"
      ]
    },
    {
      "term": "Financial Assistance",
      "categories": [
        "income"
      ]
    },
    {
      "term": "Government Benefits",
      "categories": [
        "income"
      ]
    },
    {
      "term": "Tax Preparation",
      "categories": [
        "income"
      ]
    },
    {
      "term": "Financial Education",
      "categories": [
        "income",
        "learning-literacy"
      ]
    },
    {
      "term": "Work",
      "categories": [
        "employment"
      ]
    },
    {
      "term": "Employment",
      "categories": [
        "employment"
      ]
    },
    {
      "term": "Job Training",
      "categories": [
        "employment",
        "learning-literacy"
      ]
    },
    {
      "term": "Help Find Work",
      "categories": [
        "employment"
      ]
    },
    {
      "term": "Legal",
      "categories": [
        "legal"
      ]
    },
    {
      "term": "Legal Aid",
      "categories": [
        "legal"
      ]
    },
    {
      "term": "Legal Clinic",
      "categories": [
        "legal"
      ]
    },
    {
      "term": "Advocacy & Legal Aid",
      "categories": [
        "legal"
      ]
    },
    {
      "term": "Transit",
      "categories": [
        "transportation"
      ]
    },
    {
      "term": "Transportation",
      "categories": [
        "transportation"
      ]
    },
    {
      "term": "Medical Transportation",
      "categories": [
        "transportation"
      ]
    },
    {
      "term": "Care",
      "categories": [
        "caregiver-support"
      ]
    },
    {
      "term": "Caregiver Support",
      "categories": [
        "caregiver-support"
      ]
    },
    {
      "term": "Respite Care",
      "categories": [
        "caregiver-support"
      ]
    },
    {
      "term": "Education",
      "categories": [
        "learning-literacy"
      ]
    },
    {
      "term": "Adult Education",
      "categories": [
        "learning-literacy"
      ]
    },
    {
      "term": "Literacy",
      "categories": [
        "learning-literacy"
      ]
    },
    {
      "term": "English as a Second Language",
      "categories": [
        "learning-literacy",
        "newcomer-support"
      ]
    },
    {
      "term": "Computer Classes",
      "categories": [
        "digital-literacy"
      ]
    },
    {
      "term": "Digital Literacy",
      "categories": [
        "digital-literacy"
      ]
    },
    {
      "term": "Computer and Internet Access",
      "categories": [
        "digital-literacy"
      ]
    },
    {
      "term": "Arts and Culture",
      "categories": [
        "arts-culture"
      ]
    },
    {
      "term": "Arts & Culture",
      "categories": [
        "arts-culture"
      ]
    },
    {
      "term": "Museums",
      "categories": [
        "arts-culture"
      ]
    },
    {
      "term": "Art Galleries",
      "categories": [
        "arts-culture"
      ]
    },
    {
      "term": "Arts and Crafts",
      "categories": [
        "arts-culture",
        "social-isolation"
      ]
    },
    {
      "term": "Parks",
      "categories": [
        "nature"
      ]
    },
    {
      "term": "Community Gardens",
      "categories": [
        "nature",
        "food-security"
      ]
    },
    {
      "term": "Nature",
      "categories": [
        "nature"
      ]
    },
    {
      "term": "Gardening",
      "categories": [
        "nature"
      ]
    },
    {
      "term": "Recreational Activities",
      "categories": [
        "physical-activity",
        "social-isolation"
      ]
    },
    {
      "term": "Physical Fitness",
      "categories": [
        "physical-activity"
      ]
    },
    {
      "term": "Exercise",
      "categories": [
        "physical-activity"
      ]
    },
    {
      "term": "Walking Groups",
      "categories": [
        "physical-activity",
        "social-isolation"
      ]
    },
    {
      "term": "Sports",
      "categories": [
        "physical-activity"
      ]
    },
    {
      "term": "Social Clubs",
      "categories": [
        "social-isolation",
        "loneliness"
      ]
    },
    {
      "term": "Senior Centers",
      "categories": [
        "social-isolation",
        "loneliness"
      ]
    },
    {
      "term": "Peer Support",
      "categories": [
        "mental-wellbeing",
        "loneliness"
      ]
    },
    {
      "term": "Support Groups",
      "categories": [
        "mental-wellbeing",
        "loneliness"
      ]
    },
    {
      "term": "Friendly Visiting",
      "categories": [
        "loneliness"
      ]
    },
    {
      "term": "Telephone Reassurance",
      "categories": [
        "loneliness"
      ]
    },
    {
      "term": "Bereavement",
      "categories": [
        "bereavement"
      ]
    },
    {
      "term": "Grief Counseling",
      "categories": [
        "bereavement"
      ]
    },
    {
      "term": "Bereavement Support Groups",
      "categories": [
        "bereavement"
      ]
    },
    {
      "term": "Mental Health Care",
      "categories": [
        "mental-wellbeing"
      ]
    },
    {
      "term": "Counseling",
      "categories": [
        "mental-wellbeing"
      ]
    },
    {
      "term": "Mental Health Support",
      "categories": [
        "mental-wellbeing"
      ]
    },
    {
      "term": "Stress Management",
      "categories": [
        "mental-wellbeing"
      ]
    },
    {
      "term": "Addiction & Recovery",
      "categories": [
        "substance-use-support"
      ]
    },
    {
      "term": "Substance Use Treatment",
      "categories": [
        "substance-use-support"
      ]
    },
    {
      "term": "Recovery Support Groups",
      "categories": [
        "substance-use-support"
      ]
    },
    {
      "term": "Parenting Education",
      "categories": [
        "parenting"
      ]
    },
    {
      "term": "Parenting",
      "categories": [
        "parenting"
      ]
    },
    {
      "term": "Child Care",
      "categories": [
        "childcare"
      ]
    },
    {
      "term": "Childcare",
      "categories": [
        "childcare"
      ]
    },
    {
      "term": "Daytime Care",
      "categories": [
        "childcare"
      ]
    },
    {
      "term": "Utilities",
      "categories": [
        "utilities"
      ]
    },
    {
      "term": "Help Pay for Utilities",
      "categories": [
        "utilities"
      ]
    },
    {
      "term": "Utility Assistance",
      "categories": [
        "utilities"
      ]
    },
    {
      "term": "Safety",
      "categories": [
        "personal-safety"
      ]
    },
    {
      "term": "Domestic Violence Shelters",
      "categories": [
        "personal-safety",
        "housing"
      ]
    },
    {
      "term": "Domestic Violence",
      "categories": [
        "personal-safety"
      ]
    },
    {
      "term": "Elder Abuse Prevention",
      "categories": [
        "personal-safety"
      ]
    },
    {
      "term": "Health Education",
      "categories": [
        "health-literacy"
      ]
    },
    {
      "term": "Health Literacy",
      "categories": [
        "health-literacy"
      ]
    },
    {
      "term": "Newcomers",
      "categories": [
        "newcomer-support"
      ]
    },
    {
      "term": "Immigrant Services",
      "categories": [
        "newcomer-support"
      ]
    },
    {
      "term": "Refugee Services",
      "categories": [
        "newcomer-support"
      ]
    },
    {
      "term": "Translation & Interpretation",
      "categories": [
        "newcomer-support"
      ]
    }
  ]
}
"""#
}
