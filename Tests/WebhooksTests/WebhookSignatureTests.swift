import Foundation
import TestSupport
import Testing

@testable import Webhooks

@Suite struct WebhookSignatureTests {
    /// The specification's own example, as its reference libraries test it.
    @Test func signsTheSpecificationsExample() {
        let signature = WebhookSignature(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        #expect(
            signature.sign(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Data(#"{"test": 2432232314}"#.utf8))
                == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    /// A secret not written `whsec_` is its UTF-8 bytes: the value is what the `standardwebhooks`
    /// reference library signs when given those bytes (`Webhook(b"plain-secret-of-thirty-two-chars")`).
    @Test func aPlainSecretIsItsBytes() {
        let signature = WebhookSignature(secret: "plain-secret-of-thirty-two-chars")
        let body = Data(#"{"type": "passerelle.notification", "text": "Orientation acceptée"}"#.utf8)
        #expect(
            signature.sign(id: "0c9a29f7-3166-87a8-80c2-4afff5499f20", timestamp: 1_796_601_600, body: body)
                == "v1,DKnhY1FZZ2WdHjVBc3jWBaXoLJBFtpLlIbOJwEHPHLY=")
    }

    /// What we send verifies with the reference library at the receiving end (the receiver the
    /// services' tests use), and a delivery signed with another secret does not; the receiver's
    /// answers sort into what is worth retrying and what is not.
    @Test(.timeLimit(.minutes(1)))
    func theReferenceLibraryVerifiesWhatWeSend() async throws {
        let receiver = try await WebhookReceiver()
        defer { receiver.stop() }
        let http = HTTPDelivery(userAgent: "passerelle-tests")
        let body = Data(#"{"type": "passerelle.notification", "text": "Orientation acceptée"}"#.utf8)
        let id = UUID().uuidString.lowercased()
        let headers = WebhookSignature(secret: receiver.secret).headers(id: id, body: body)
        #expect(Set(headers.map(\.0)) == WebhookSignature.headerNames)
        try await http.post(url: receiver.url("/hook"), body: body, headers: headers)

        let forged = WebhookSignature(secret: "whsec_" + Data(count: 32).base64EncodedString()).headers(id: UUID().uuidString, body: body)
        await #expect { try await http.post(url: receiver.url("/forged"), body: body, headers: forged) } throws: { error in
            (error as? DeliveryError).map { !$0.transient && $0.detail.contains("HTTP 401") } ?? false
        }
        await #expect { try await http.post(url: receiver.url("/busy?fail=1"), body: body, headers: headers) } throws: { error in
            (error as? DeliveryError).map { $0.transient && $0.detail == "POST \(receiver.url("/busy")): HTTP 503 Service Unavailable" } ?? false
        }
        await #expect { try await http.post(url: receiver.url("/gone"), body: body, headers: headers) } throws: { error in
            (error as? DeliveryError)?.transient == false
        }

        let records = try #require(try JSONSerialization.jsonObject(with: try await receiver.receivedJSON()) as? [[String: Any]])
        let verified = Dictionary(uniqueKeysWithValues: records.map { ($0["path"] as? String ?? "", $0["verified"] as? Bool) })
        #expect(verified == ["/hook": true, "/forged": false])
        #expect(records.first?["id"] as? String == id)
    }

    @Test func secretsMustBeStrongEnough() {
        #expect(WebhookSignature.isStrongEnough("0123456789abcdef01234567"))
        #expect(!WebhookSignature.isStrongEnough("0123456789abcdef0123456"))
        #expect(WebhookSignature.isStrongEnough("whsec_" + Data(count: 24).base64EncodedString()))
        // 23 bytes of key, though more than 24 characters written.
        #expect(!WebhookSignature.isStrongEnough("whsec_" + Data(count: 23).base64EncodedString()))
        #expect(!WebhookSignature.isStrongEnough("whsec_not base64 at all, however long it is"))
    }
}
