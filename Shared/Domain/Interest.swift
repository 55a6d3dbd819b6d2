/// What a client enjoys or would like to do, as a code of the interest list. Referrers type
/// interests freely and intake keeps them as typed; only those that are codes of this list (once
/// normalised: `Board games` is `board-games`) leave intake, so a referrer's words about the
/// person never travel on an event.
public typealias Interest = Coded<Interests>

/// The interest code list. Matching compares it with resource tags normalised the same way.
public enum Interests: CodeList {
    public static let name = "interest"

    public static let catalogue: [CodeListEntry] = [
        CodeListEntry(code: "talking", english: "Talking and company", french: "Conversation et compagnie"),
        CodeListEntry(code: "walking", english: "Walking", french: "Marche"),
        CodeListEntry(code: "hiking", english: "Hiking", french: "Randonnée"),
        CodeListEntry(code: "cycling", english: "Cycling", french: "Vélo"),
        CodeListEntry(code: "swimming", english: "Swimming", french: "Natation"),
        CodeListEntry(code: "yoga", english: "Yoga", french: "Yoga"),
        CodeListEntry(code: "tai-chi", english: "Tai chi", french: "Tai-chi"),
        CodeListEntry(code: "dance", english: "Dance", french: "Danse"),
        CodeListEntry(code: "fitness", english: "Fitness", french: "Conditionnement physique"),
        CodeListEntry(code: "sports", english: "Sports", french: "Sports"),
        CodeListEntry(code: "bowling", english: "Bowling", french: "Quilles"),
        CodeListEntry(code: "gardening", english: "Gardening", french: "Jardinage"),
        CodeListEntry(code: "nature", english: "Nature", french: "Nature"),
        CodeListEntry(code: "birdwatching", english: "Birdwatching", french: "Observation des oiseaux"),
        CodeListEntry(code: "fishing", english: "Fishing", french: "Pêche"),
        CodeListEntry(code: "cooking", english: "Cooking", french: "Cuisine"),
        CodeListEntry(code: "baking", english: "Baking", french: "Pâtisserie"),
        CodeListEntry(code: "knitting", english: "Knitting", french: "Tricot"),
        CodeListEntry(code: "sewing", english: "Sewing", french: "Couture"),
        CodeListEntry(code: "crafts", english: "Crafts", french: "Artisanat"),
        CodeListEntry(code: "woodworking", english: "Woodworking", french: "Menuiserie"),
        CodeListEntry(code: "painting", english: "Painting", french: "Peinture"),
        CodeListEntry(code: "drawing", english: "Drawing", french: "Dessin"),
        CodeListEntry(code: "photography", english: "Photography", french: "Photographie"),
        CodeListEntry(code: "pottery", english: "Pottery", french: "Poterie"),
        CodeListEntry(code: "music", english: "Music", french: "Musique"),
        CodeListEntry(code: "singing", english: "Singing", french: "Chant"),
        CodeListEntry(code: "choir", english: "Choir", french: "Chorale"),
        CodeListEntry(code: "theatre", english: "Theatre", french: "Théâtre"),
        CodeListEntry(code: "cinema", english: "Cinema", french: "Cinéma"),
        CodeListEntry(code: "reading", english: "Reading", french: "Lecture"),
        CodeListEntry(code: "writing", english: "Writing", french: "Écriture"),
        CodeListEntry(code: "history", english: "History", french: "Histoire"),
        CodeListEntry(code: "museums", english: "Museums", french: "Musées"),
        CodeListEntry(code: "languages", english: "Languages", french: "Langues"),
        CodeListEntry(code: "computers", english: "Computers", french: "Informatique"),
        CodeListEntry(code: "board-games", english: "Board games", french: "Jeux de société"),
        CodeListEntry(code: "cards", english: "Card games", french: "Jeux de cartes"),
        CodeListEntry(code: "chess", english: "Chess", french: "Échecs"),
        CodeListEntry(code: "puzzles", english: "Puzzles", french: "Casse-têtes"),
        CodeListEntry(code: "volunteering", english: "Volunteering", french: "Bénévolat"),
        CodeListEntry(code: "faith", english: "Faith community", french: "Communauté de foi"),
        CodeListEntry(code: "meditation", english: "Meditation", french: "Méditation"),
        CodeListEntry(code: "pets", english: "Pets and animals", french: "Animaux"),
    ]

    public static let entries = CodeListEntry.index(catalogue)

    /// A typed interest or a resource tag as a code would spell it: lower case, words joined by
    /// dashes (`Board  games` → `board-games`).
    public static func normalised(_ tag: String) -> String {
        tag.lowercased().split(whereSeparator: { $0 == " " || $0 == "_" || $0 == "-" || $0.isWhitespace }).joined(separator: "-")
    }

    /// The codes among typed interests, each once, in the order typed; the rest stay unsaid.
    public static func codes(in typed: [String]) -> [String] {
        var seen: Set<String> = []
        return typed.map(normalised).filter { entries[$0] != nil && seen.insert($0).inserted }
    }
}
