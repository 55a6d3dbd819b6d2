/// A small HSDS 2.0 directory written for the tests, messy on purpose: a service without a
/// name, one of an unknown organisation, one whose only term maps to nothing, one with seats
/// "many", a repeated id, a location with bad coordinates, a language written as a sentence,
/// and a taxonomy link to a service that does not exist.
enum HSDSSample {
    static let tables: [String: String] = [
        "organizations.csv": """
        id,name,description
        o1,Centre de santé communautaire Ouest,"Santé, services sociaux"
        o2,Ottawa Food Network,
        """,
        "services.csv": """
        id,organization_id,name,description,url,email,status,interpretation_services,fees,minimum_age,kind,tags,seats
        s1,o1,Club de marche,"Marche du mardi, départ au parc",,,active,,Gratuit,55,health-champion-group,walking;nature,12
        s2,o2,Food bank,"Groceries every week.\r\nBring a bag, please.",,,active,on request,,,,cooking,
        s3,o1,Cercle de deuil,Rencontres en ligne,https://example.org/deuil,,active,,,,internal-program,,
        s4,o1,,No name here,,,active,,,,,,
        s5,o9,Orphan service,Unknown organisation,https://example.org/orphan,,active,,,,,,
        s6,o1,Horoscopes,Not a need,https://example.org/horoscopes,,active,,,,,,
        s7,o2,Community kitchen,Too vague capacity,,,active,,,,,,many
        s1,o1,Club de marche (copie),Repeated id,,,active,,,,,,
        s8,o2,Legal clinic,"Free advice; ""walk-in"" Thursdays",,legal@example.org,active,,,,,,
        """,
        "locations.csv": """
        id,organization_id,name,latitude,longitude
        l1,o1,Parc Hintonburg,45.4012,-75.7251
        l2,o2,Depot,45.4155,-75.6972
        l3,o2,Clinic,north,west
        """,
        "services_at_location.csv": """
        id,service_id,location_id
        sl1,s1,l1
        sl2,s2,l2
        sl3,s8,l3
        sl4,s2,l9
        """,
        "physical_addresses.csv": """
        id,location_id,address_1,city,state_province,postal_code,country
        a1,l1,1064 rue Wellington Ouest,Ottawa,ON,K1Y 2Y3,CA
        a3,l3,"100 Bank St, Suite 2",Ottawa,ON,K2P 1B9,CA
        """,
        "phones.csv": """
        id,service_id,location_id,number,type
        p1,s2,,613-555-0100,voice
        """,
        "languages.csv": """
        id,service_id,location_id,language
        g1,s1,,fr
        g2,s1,,English
        g3,s1,,some volunteers speak a little
        g4,s3,,Français
        g5,s2,,en
        """,
        "regular_schedules.csv": """
        id,service_id,location_id,weekday,opens_at,closes_at
        r1,s1,,2,10:00,11:30
        r2,s8,,Thursday,13:00:00,16:00:00
        r3,s2,,Someday,09:00,12:00
        """,
        "eligibility.csv": """
        id,service_id,eligibility
        e1,s1,Adultes de 55 ans et plus
        """,
        "taxonomy.csv": """
        id,name,parent_id,parent_name,vocabulary
        t1,Walking Groups,,,open-eligibility
        t2,Food Pantry,,,211
        t3,Grief Counseling,,,open-eligibility
        t4,Astrology,,,none
        t5,Legal Aid,,,open-eligibility
        t6,Community Kitchen,,,211
        """,
        "services_taxonomy.csv": """
        id,service_id,taxonomy_id
        st1,s1,t1
        st2,s2,t2
        st3,s3,t3
        st4,s6,t4
        st5,s8,t5
        st6,s99,t2
        st7,s7,t6
        st8,s4,t1
        st9,s5,t1
        """,
        "accessibility_for_disabilities.csv": """
        id,location_id,accessibility,details
        x1,l1,step-free access,Paved path
        x2,l2,step-free access,
        """,
        "service_area.csv": """
        id,service_id,service_area
        sa1,s2,K1
        """,
    ]
}
