import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// Why a delivery did not happen, and whether trying again may help.
public struct DeliveryError: Error, Sendable, CustomStringConvertible {
    public var transient: Bool
    public var detail: String
    /// How long the receiver asked us to wait before trying again (its `Retry-After`, already
    /// bounded by `HTTPDelivery.longestRetryAfter`); nil when it did not say.
    public var retryAfter: Duration?

    public init(transient: Bool, _ detail: String, retryAfter: Duration? = nil) {
        self.transient = transient
        self.detail = detail
        self.retryAfter = retryAfter
    }

    public var description: String { detail }
}

/// POSTs to a receiver (a webhook endpoint, a gateway), classifying failures so that both
/// services retry the same ones: 5xx, 408, 429 and network errors may pass later; any other
/// 4xx will not. A 429 or 503 with `Retry-After` (seconds or an HTTP-date) says how long to
/// wait at least, which the error carries for the caller's next attempt.
///
/// An exchange lasts at most the timeout, and ends before the caller's deadline when it gives
/// one (a sender holding a lease must stop before another could take the message over): a
/// receiver that hangs is abandoned, before or after it sent its status.
///
/// The receiver is someone else's server, so what it answers is not trusted: redirects are not
/// followed (a 3xx could point inward, past the target check), and its body is neither stored
/// nor logged (it could echo what an inward service said); only the status and a bounded,
/// printable reason phrase are kept.
public struct HTTPDelivery: Sendable {
    let userAgent: String
    let timeout: TimeAmount
    let clients = PinnedClients()

    /// The longest `Retry-After` honoured: a receiver asking for a day is retried after an hour
    /// (the attempt limit still applies).
    public static let longestRetryAfter = Duration.seconds(3600)

    /// `userAgent` names the sending service, for the receiver's logs.
    public init(userAgent: String, timeout: TimeAmount = .seconds(15)) {
        self.userAgent = userAgent
        self.timeout = timeout
    }

    /// POSTs to a target checked by a `WebhookTargetPolicy`, connecting to the address it was
    /// checked at (the name still goes in Host and as the TLS server name, so certificates are
    /// checked against it).
    /// `deadline`: when the exchange must have ended, whatever the timeout.
    public func post(
        to target: CheckedTarget, body: Data, contentType: String = "application/json", headers: [(String, String)],
        deadline: ContinuousClock.Instant? = nil
    ) async throws(DeliveryError) {
        try await send(target.url, body: body, contentType: contentType, headers: headers, deadline: deadline, with: clients.client(for: target))
    }

    /// POSTs to a URL without a target policy: its host is looked up once and the connection
    /// goes to that address, redirects unfollowed. Callers that restrict where calls may go use
    /// `post(to:)` with the target their policy checked.
    public func post(url: String, body: Data, contentType: String = "application/json", headers: [(String, String)]) async throws(DeliveryError) {
        let target: CheckedTarget
        do {
            target = try await WebhookTargetPolicy(reach: .anywhere).target(url)
        } catch {
            throw DeliveryError(transient: error.isTransient, "POST \(Self.redacted(url)): \(error)")
        }
        try await post(to: target, body: body, contentType: contentType, headers: headers)
    }

    /// How long an exchange started now may last: the timeout, cut to what is left before the
    /// deadline; nil when nothing is left.
    func limit(before deadline: ContinuousClock.Instant?, now: ContinuousClock.Instant = .now) -> TimeAmount? {
        guard let deadline else { return timeout }
        let left = deadline - now
        guard left > .milliseconds(1) else { return nil }
        let (seconds, attoseconds) = left.components
        return min(timeout, .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
    }

    private func send(
        _ url: String, body: Data, contentType: String, headers: [(String, String)], deadline: ContinuousClock.Instant?, with client: HTTPClient
    ) async throws(DeliveryError) {
        // Checked before anything is written: a request never sent cannot have been received.
        guard let limit = limit(before: deadline) else {
            throw DeliveryError(transient: true, "POST \(Self.redacted(url)): given up before sending, the sender's deadline has passed")
        }
        let ends = NIODeadline.now() + limit
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        request.headers.add(name: "User-Agent", value: userAgent)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, deadline: ends)
        } catch {
            throw DeliveryError(transient: true, "POST \(Self.redacted(url)): \(error)")
        }
        let code = Int(response.status.code)
        // Drain a bounded part of the answer so the exchange completes; it is not kept. The
        // client's deadline covers only the head: a body that never ends is cut off at `ends`.
        await Self.drain(response, until: ends)
        if (300..<400).contains(code) {
            throw DeliveryError(transient: false, "POST \(Self.redacted(url)): HTTP \(code), a redirect, not followed")
        }
        guard (200..<300).contains(code) else {
            let transient = code >= 500 || code == 408 || code == 429
            let reason = Self.sanitised(response.status.reasonPhrase)
            var wait: Duration?
            if code == 429 || code == 503, let header = response.headers.first(name: "Retry-After") {
                wait = Self.retryAfter(header, now: Date()).map { min($0, Self.longestRetryAfter) }
            }
            throw DeliveryError(
                transient: transient,
                "POST \(Self.redacted(url)): HTTP \(code)" + (reason.isEmpty ? "" : " \(reason)")
                    + (wait.map { ", retry after \($0.components.seconds) s" } ?? ""),
                retryAfter: wait)
        }
    }

    /// Reads up to 4 KiB of the body, giving up at `deadline`.
    static func drain(_ response: HTTPClientResponse, until deadline: NIODeadline) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { _ = try? await response.body.collect(upTo: 4096) }
            group.addTask {
                let left = deadline - NIODeadline.now()
                try? await Task.sleep(for: .nanoseconds(max(0, left.nanoseconds)))
            }
            // Whichever ends first; cancelling the body's reader ends the request.
            await group.next()
            group.cancelAll()
        }
    }

    /// A `Retry-After` value (RFC 9110 §10.2.3): a number of seconds or an HTTP-date; nil when
    /// it is neither. A date in the past is no wait.
    static func retryAfter(_ value: String, now: Date) -> Duration? {
        let text = value.trimmingCharacters(in: .whitespaces)
        if !text.isEmpty, text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber) {
            return Int64(text).map { .seconds($0) } ?? longestRetryAfter  // too many digits: a very long wait
        }
        for format in ["EEE, dd MMM yyyy HH:mm:ss 'GMT'", "EEEE, dd-MMM-yy HH:mm:ss 'GMT'", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: text) {
                return .milliseconds(Int64(max(0, date.timeIntervalSince(now)) * 1000))
            }
        }
        return nil
    }

    /// The URL without its query (tokens sometimes live there).
    static func redacted(_ url: String) -> String {
        String(url.prefix { $0 != "?" })
    }

    /// A reason phrase as it may be logged and stored: printable ASCII, at most 64 characters.
    /// (The client gives the standard phrase of the status today; this keeps a peer's own one,
    /// should it ever pass through, from carrying control characters or length into logs.)
    static func sanitised(_ reason: String) -> String {
        let printable = reason.unicodeScalars.filter { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f }
        return String(String.UnicodeScalarView(printable.prefix(64))).trimmingCharacters(in: .whitespaces)
    }
}

/// One HTTP client per checked (name, address) pair, kept for the next delivery there: the
/// address is part of a client's configuration, so a pooled connection always goes where the
/// target was checked to point, and a name that now answers elsewhere gets a client of its own.
/// (A client per delivery, set up and shut down each time, held deliveries to ~15/s.)
final class PinnedClients: Sendable {
    static let capacity = 64
    static let evictionGrace = Duration.seconds(60)
    private let clients = Mutex<(byKey: [String: HTTPClient], order: [String])>(([:], []))

    func client(for target: CheckedTarget) -> HTTPClient {
        let key = "\(target.host)|\(target.address)"
        let (client, evicted) = clients.withLock { state -> (HTTPClient, HTTPClient?) in
            if let client = state.byKey[key] { return (client, nil) }
            var configuration = HTTPClient.Configuration()
            configuration.redirectConfiguration = .disallow
            if IPAddress(target.host) == nil {
                configuration.dnsOverride = [target.host: target.address.description]
            }
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            state.byKey[key] = client
            state.order.append(key)
            var evicted: HTTPClient?
            if state.order.count > Self.capacity {
                let oldest = state.order.removeFirst()
                evicted = state.byKey.removeValue(forKey: oldest)
            }
            return (client, evicted)
        }
        // Shut down outside the lock, and only after a grace longer than any delivery's timeout:
        // a delivery that took the client just before it was evicted may still be using it.
        if let evicted {
            Task {
                try? await Task.sleep(for: Self.evictionGrace)
                try? await evicted.shutdown()
            }
        }
        return client
    }

    deinit {
        // Not `syncShutdown`: the last reference may drop on one of the clients' own threads.
        for client in clients.withLock({ Array($0.byKey.values) }) { Task { try? await client.shutdown() } }
    }
}

extension WebhookTargetRefusal {
    /// A name that does not resolve may resolve later; a refused address or URL will not change.
    var isTransient: Bool {
        if case .unresolvable = self { return true }
        return false
    }
}
