import Foundation
import Synchronization
import TestSupport
import Testing

@testable import Webhooks

/// Outbound calls cannot be turned inward: a receiver's redirect is not followed, its body is not
/// kept, and the connection goes to the address the target was checked at.
@Suite struct OutboundReachTests {
    func records(_ receiver: WebhookReceiver) async throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: try await receiver.receivedJSON()) as? [[String: Any]])
    }

    @Test(.timeLimit(.minutes(1)))
    func aRedirectIsNotFollowed() async throws {
        let receiver = try await WebhookReceiver()
        defer { receiver.stop() }
        let http = HTTPDelivery(userAgent: "passerelle-tests")
        let body = Data(#"{"type": "passerelle.notification"}"#.utf8)
        await #expect { try await http.post(url: receiver.url("/hook/redirect"), body: body, headers: []) } throws: { error in
            (error as? DeliveryError).map { !$0.transient && $0.detail.contains("HTTP 307") && $0.detail.contains("not followed") } ?? false
        }
        // The receiver saw the first request only: nothing went to where the redirect pointed.
        let paths = try await records(receiver).map { $0["path"] as? String }
        #expect(paths == ["/hook/redirect"])
    }

    @Test(.timeLimit(.minutes(1)))
    func thePeersBodyIsNotKeptAndItsReasonIsBoundedAndPrintable() async throws {
        let receiver = try await WebhookReceiver()
        defer { receiver.stop() }
        let http = HTTPDelivery(userAgent: "passerelle-tests")
        let failure = await #expect(throws: DeliveryError.self) {
            try await http.post(url: receiver.url("/hook/leaky?token=t0p"), body: Data("{}".utf8), headers: [])
        }
        let detail = try #require(failure?.detail)
        #expect(failure?.transient == true)
        #expect(!detail.contains("leaked-body"), "\(detail)")
        #expect(!detail.contains("t0p"), "the query stays out: \(detail)")
        #expect(!detail.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f }, "\(detail)")
        // The peer's own reason phrase ("Cassé\txxx…") does not reach the detail either.
        #expect(!detail.contains("Cass"), "\(detail)")
        #expect(detail.hasPrefix("POST \(receiver.url("/hook/leaky")): HTTP 500"))
        #expect(detail.count <= "POST \(receiver.url("/hook/leaky")): HTTP 500 ".count + 64)
    }

    /// DNS rebinding: a name that answers a permitted address when checked and an inward one
    /// afterwards. The policy's resolver is injected; the name itself does not exist in DNS, so
    /// the delivery can only succeed by connecting to the address that was checked.
    @Test(.timeLimit(.minutes(1)))
    func theConnectionGoesToTheCheckedAddress() async throws {
        let receiver = try await WebhookReceiver(unsigned: ["/sms"])
        defer { receiver.stop() }
        let lookups = Lookups()
        let policy = WebhookTargetPolicy(reach: .anywhere) { name in
            #expect(name == "gateway.rebinding.invalid")
            // First answer: the test's receiver; any later one: the metadata endpoint.
            let count = lookups.count.withLock {
                $0 += 1
                return $0
            }
            return [IPAddress(count == 1 ? "127.0.0.1" : "169.254.169.254")!]
        }
        let url = "http://gateway.rebinding.invalid:\(receiver.peer.port)/sms/send"
        let target = try await policy.target(url)
        #expect(target.address == IPAddress("127.0.0.1"))
        #expect(target.host == "gateway.rebinding.invalid")
        try await HTTPDelivery(userAgent: "passerelle-tests")
            .post(to: target, body: Data(#"{"id": "1", "to": "+15555550100", "body": "hi"}"#.utf8), headers: [])
        #expect(lookups.count.withLock { $0 } == 1, "one lookup, at the check")
        let received = try await records(receiver)
        #expect(received.map { $0["path"] as? String } == ["/sms/send"])
        // The name, not the address, is what the receiver was asked for.
        #expect(received.first?["host"] as? String == "gateway.rebinding.invalid:\(receiver.peer.port)")
    }

    final class Lookups: Sendable {
        let count = Mutex(0)
    }

    @Test func aNameWithAnyInwardAddressIsRefused() async throws {
        let policy = WebhookTargetPolicy(reach: .publicAddresses) { _ in [IPAddress("8.8.8.8")!, IPAddress("::ffff:10.0.0.1")!] }
        await #expect(throws: WebhookTargetRefusal.self) { try await policy.target("http://mixed.example/hook") }
        let publicOnly = WebhookTargetPolicy(reach: .publicAddresses) { _ in [IPAddress("8.8.8.8")!] }
        // Public addresses over plain http are within this reach (the deployment's own targets).
        #expect(try await publicOnly.target("http://public.example/hook").address == IPAddress("8.8.8.8"))
        for url in [
            "http://127.0.0.1/", "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://10.1.2.3/", "http://192.168.1.1/",
            "http://172.16.0.1/", "http://[fd00::1]/", "http://[fe80::1]/", "http://169.254.169.254/", "http://0.0.0.0/",
            "http://0.1.2.3/", "http://100.64.0.1/", "http://224.0.0.1/", "http://[ff02::1]/", "http://[2002:7f00:1::]/",
            "http://[64:ff9b::a9fe:a9fe]/",
        ] {
            #expect(await publicOnly.problem(with: url) != nil, "\(url) must be refused")
        }
    }

    @Test func embeddedIPv4AddressesFallInTheirScope() throws {
        #expect(try #require(IPAddress("2002:0a00:0001::1")).scope == .private)
        #expect(try #require(IPAddress("2002:0808:0808::1")).scope == .public)
        #expect(try #require(IPAddress("64:ff9b:1::a00:1")).scope == .private)
        #expect(try #require(IPAddress("192.0.0.170")).scope == .reserved)
        #expect(try #require(IPAddress("198.18.0.1")).scope == .private)
    }
}
