import Foundation

/// A MIME e-mail in UTF-8: text, and HTML when the template has it, as multipart/alternative.
/// The Message-ID comes from the notification id, so a receiver can drop a repeat sent in the
/// window between the relay accepting a message and the service recording it.
public struct EmailMessage: Sendable, Equatable {
    public var messageID: String
    public var from: String
    public var fromName: String
    public var to: String
    public var subject: String
    public var text: String
    public var html: String?
    public var date: Date

    public init(notificationID: UUID, domain: String, from: String, fromName: String, to: String, subject: String, text: String, html: String?, date: Date) {
        self.messageID = "<\(notificationID.uuidString.lowercased())@\(domain)>"
        self.from = from
        self.fromName = fromName
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.date = date
    }

    /// The message as sent after DATA, lines ending in CRLF.
    public var rendered: String {
        var headers = [
            "From: \(Self.encodedWord(fromName)) <\(from)>",
            "To: <\(to)>",
            "Subject: \(Self.encodedWord(subject))",
            "Date: \(Self.rfc5322Date(date))",
            "Message-ID: \(messageID)",
            "MIME-Version: 1.0",
            "Auto-Submitted: auto-generated",
        ]
        var body: [String]
        if let html {
            let boundary = "passerelle-" + messageID.filter { $0.isLetter || $0.isNumber }.prefix(24)
            headers.append("Content-Type: multipart/alternative; boundary=\"\(boundary)\"")
            body = ["--\(boundary)"] + Self.part(text, type: "text/plain") + ["--\(boundary)"] + Self.part(html, type: "text/html") + ["--\(boundary)--"]
        } else {
            headers.append(contentsOf: ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64"])
            body = Self.base64Lines(text)
        }
        return (headers + [""] + body).joined(separator: "\r\n") + "\r\n"
    }

    /// `rendered` with lines starting with "." doubled (RFC 5321 §4.5.2).
    var dotStuffed: String {
        rendered.components(separatedBy: "\r\n").map { $0.hasPrefix(".") ? "." + $0 : $0 }.joined(separator: "\r\n")
    }

    private static func part(_ content: String, type: String) -> [String] {
        ["Content-Type: \(type); charset=utf-8", "Content-Transfer-Encoding: base64", ""] + base64Lines(content)
    }

    private static func base64Lines(_ content: String) -> [String] {
        let encoded = Data(content.utf8).base64EncodedString()
        return stride(from: 0, to: encoded.count, by: 76).map { start in
            let from = encoded.index(encoded.startIndex, offsetBy: start)
            return String(encoded[from..<(encoded.index(from, offsetBy: 76, limitedBy: encoded.endIndex) ?? encoded.endIndex)])
        }
    }

    /// RFC 2047 encoded word for non-ASCII header text.
    static func encodedWord(_ text: String) -> String {
        if text.allSatisfy({ $0.isASCII && !$0.isNewline }) { return text }
        return "=?UTF-8?B?\(Data(text.utf8).base64EncodedString())?="
    }

    static func rfc5322Date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: date)
    }
}

/// What an e-mail address may be here: a dot-atom local part, one `@`, and a domain of letter,
/// digit and hyphen labels (RFC 5321's common form), ASCII only, at most 254 characters — the
/// pattern notification's contract states for it. An
/// address goes into `RCPT TO:<…>` and the `To:` header as it is, so a CR, LF or any other
/// control character in it could add commands or headers of the sender's choosing; quoted local
/// parts and address literals are legal but no staff address needs them.
enum EmailAddress {
    static let maximumLength = 254

    static func isValid(_ text: String) -> Bool {
        let scalars = Array(text.unicodeScalars)
        guard (3...maximumLength).contains(scalars.count), scalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7f }) else { return false }
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        // RFC 5321's part lengths (64, 253, 63) are left to the relay: the contract's pattern
        // cannot say them, and an address the relay refuses fails its delivery, said in the log.
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return false }
        let atext = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~")
        let localAtoms = parts[0].split(separator: ".", omittingEmptySubsequences: false)
        guard localAtoms.allSatisfy({ !$0.isEmpty && $0.allSatisfy(atext.contains) }) else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        let labelCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
        return labels.allSatisfy { label in
            !label.isEmpty && label.allSatisfy(labelCharacters.contains) && label.first != "-" && label.last != "-"
        }
    }
}
