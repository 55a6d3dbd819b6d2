import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import ServiceRuntime

/// How to reach the SMTP relay (`PASSERELLE_SMTP_*`).
public struct SMTPSettings: Sendable {
    public enum Security: String, Sendable {
        /// Plain SMTP (a relay on the same host or network).
        case none
        /// STARTTLS when the server offers it, plain otherwise.
        case opportunistic
        /// STARTTLS or fail: the default, as mail carries what clients and staff are told.
        case required
    }

    public var host: String
    public var port: Int
    public var security: Security
    /// PEM file of extra trust roots (a private relay's CA); the system roots otherwise.
    public var trustRootsFile: String?
    public var username: String?
    public var password: String?
    public var from: String
    public var fromName: String
    /// Our name in EHLO and in Message-IDs.
    public var domain: String
    public var timeout: Duration

    public init(
        host: String, port: Int, security: Security = .required, trustRootsFile: String? = nil, username: String? = nil,
        password: String? = nil, from: String, fromName: String = "Passerelle", domain: String = "passerelle.local", timeout: Duration = .seconds(30)
    ) {
        self.host = host
        self.port = port
        self.security = security
        self.trustRootsFile = trustRootsFile
        self.username = username
        self.password = password
        self.from = from
        self.fromName = fromName
        self.domain = domain
        self.timeout = timeout
    }

    static func fromEnvironment(_ e: Environment) throws -> SMTPSettings? {
        guard let host = e.optionalString("PASSERELLE_SMTP_HOST") else { return nil }
        // Plain SMTP takes an explicit `none` (a catcher on the same host or network).
        let mode = e.string("PASSERELLE_SMTP_SECURITY", default: "required")
        guard let security = Security(rawValue: mode) else {
            throw ConfigurationError(variable: "PASSERELLE_SMTP_SECURITY", problem: "\"\(mode)\" is not one of none, opportunistic, required")
        }
        let from = e.string("PASSERELLE_SMTP_FROM", default: "no-reply@passerelle.local")
        guard EmailAddress.isValid(from) else {
            throw ConfigurationError(variable: "PASSERELLE_SMTP_FROM", problem: "is not a plain e-mail address (one @, no spaces or control characters)")
        }
        return SMTPSettings(
            host: host, port: try e.int("PASSERELLE_SMTP_PORT", default: 587), security: security,
            trustRootsFile: e.optionalString("PASSERELLE_SMTP_TRUST_ROOTS"),
            username: e.optionalString("PASSERELLE_SMTP_USERNAME"), password: try e.secret("PASSERELLE_SMTP_PASSWORD"),
            from: from,
            fromName: e.string("PASSERELLE_SMTP_FROM_NAME", default: "Passerelle"),
            domain: e.string("PASSERELLE_SMTP_DOMAIN", default: "passerelle.local"),
            timeout: .seconds(try e.int("PASSERELLE_SMTP_TIMEOUT_SECONDS", default: 30)))
    }
}

/// A server's reply: its code and text lines.
struct SMTPReply: Sendable {
    var code: Int
    var lines: [String]
}

public struct SMTPError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case unreachable, timeout, closed, rejected, tlsUnavailable, authenticationUnavailable, invalidAddress }
    public var kind: Kind
    public var command: String
    public var code: Int?
    public var message: String

    /// 4xx replies and lost connections may succeed later; 5xx replies will not.
    public var isTransient: Bool {
        switch kind {
        case .unreachable, .timeout, .closed: return true
        case .rejected: return (code ?? 500) < 500
        case .tlsUnavailable, .authenticationUnavailable, .invalidAddress: return false
        }
    }

    public var description: String {
        "SMTP \(command): \(kind)\(code.map { " \($0)" } ?? "") \(message)"
    }
}

/// Sends one message per connection: EHLO, STARTTLS when offered or required, AUTH PLAIN or
/// LOGIN when credentials are configured (only over TLS), MAIL/RCPT/DATA, QUIT.
public struct SMTPClient: Sendable {
    public let settings: SMTPSettings
    private let tlsContext: NIOSSLContext?

    public init(settings: SMTPSettings) throws {
        self.settings = settings
        if settings.security == .none {
            tlsContext = nil
        } else {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let file = settings.trustRootsFile { tls.trustRoots = .file(file) }
            tlsContext = try NIOSSLContext(configuration: tls)
        }
    }

    /// Sends `message` on a connection of its own. Every wait (connecting, each reply) lasts at
    /// most `settings.timeout` and ends before `deadline` (read at each step): a sender holding
    /// a lease gives up before another could take the message over.
    public func send(_ message: EmailMessage, deadline: (@Sendable () -> ContinuousClock.Instant)? = nil) async throws(SMTPError) {
        // Whatever accepted the address, it goes into RCPT TO and To: as it is; a CR or LF in
        // it would write commands or headers of its own. (Not echoed: it is personal data.)
        guard EmailAddress.isValid(message.to) else {
            throw SMTPError(kind: .invalidAddress, command: "RCPT TO", code: nil, message: "the recipient is not a plain e-mail address")
        }
        let limits = WaitLimits(perStep: settings.timeout, deadline: deadline)
        let connectLimit = try limits.next("connect")
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.init(connectLimit))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers([ByteToMessageHandler(SMTPReplyDecoder()), SMTPCommandHandler()])
                    }
                }
                .connect(host: settings.host, port: settings.port).get()
        } catch {
            throw SMTPError(kind: .unreachable, command: "connect", code: nil, message: "\(settings.host):\(settings.port): \(error)")
        }
        do {
            try await converse(on: channel, message: message, limits: limits)
            _ = try? await command("QUIT", on: channel, limits: limits)
            try? await channel.close()
        } catch {
            try? await channel.close()
            throw error
        }
    }

    private func converse(on channel: any Channel, message: EmailMessage, limits: WaitLimits) async throws(SMTPError) {
        try expect(220, await command(nil, on: channel, limits: limits), "greeting")
        var capabilities = try expect(250, await command("EHLO \(settings.domain)", on: channel, limits: limits), "EHLO").lines
        var secured = false
        if let tlsContext {
            let offered = capabilities.contains { $0.uppercased().hasPrefix("STARTTLS") }
            if offered {
                try expect(220, await command("STARTTLS", on: channel, limits: limits), "STARTTLS")
                do {
                    let host = settings.host
                    try await channel.eventLoop.submit {
                        let handler = try NIOSSLClientHandler(context: tlsContext, serverHostname: host.first?.isNumber == true ? nil : host)
                        try channel.pipeline.syncOperations.addHandler(handler, position: .first)
                    }.get()
                } catch {
                    throw SMTPError(kind: .tlsUnavailable, command: "STARTTLS", code: nil, message: "\(error)")
                }
                // RFC 3207: forget what was learnt before TLS and ask again.
                capabilities = try expect(250, await command("EHLO \(settings.domain)", on: channel, limits: limits), "EHLO").lines
                secured = true
            } else if settings.security == .required {
                throw SMTPError(kind: .tlsUnavailable, command: "EHLO", code: nil, message: "the server does not offer STARTTLS and TLS is required")
            }
        }
        if let username = settings.username, let password = settings.password {
            guard secured else {
                throw SMTPError(kind: .authenticationUnavailable, command: "AUTH", code: nil, message: "credentials are only sent over TLS")
            }
            let mechanisms = capabilities.first { $0.uppercased().hasPrefix("AUTH") }?.uppercased().split(separator: " ").dropFirst().map(String.init) ?? []
            if mechanisms.contains("PLAIN") {
                let token = Data("\u{0}\(username)\u{0}\(password)".utf8).base64EncodedString()
                try expect(235, await command("AUTH PLAIN \(token)", on: channel, limits: limits, redacted: "AUTH PLAIN …"), "AUTH PLAIN")
            } else if mechanisms.contains("LOGIN") {
                try expect(334, await command("AUTH LOGIN", on: channel, limits: limits), "AUTH LOGIN")
                try expect(334, await command(Data(username.utf8).base64EncodedString(), on: channel, limits: limits, redacted: "…"), "AUTH LOGIN user")
                try expect(235, await command(Data(password.utf8).base64EncodedString(), on: channel, limits: limits, redacted: "…"), "AUTH LOGIN password")
            } else {
                throw SMTPError(kind: .authenticationUnavailable, command: "AUTH", code: nil, message: "server offers \(mechanisms), neither PLAIN nor LOGIN")
            }
        }
        try expect(250, await command("MAIL FROM:<\(settings.from)>", on: channel, limits: limits), "MAIL FROM")
        try expect(250, await command("RCPT TO:<\(message.to)>", on: channel, limits: limits), "RCPT TO", accepting: [250, 251])
        try expect(354, await command("DATA", on: channel, limits: limits), "DATA")
        try expect(250, await command(message.dotStuffed + ".", on: channel, limits: limits, redacted: "<message>"), "end of data")
    }

    /// Writes `line` (nil: only wait, for the greeting) and waits for the reply, closing the
    /// connection when the server takes longer than the timeout, or than the deadline, which
    /// renewing the lease may move while the reply is awaited.
    private func command(_ line: String?, on channel: any Channel, limits: WaitLimits, redacted: String? = nil) async throws(SMTPError) -> SMTPReply {
        let name = redacted ?? line.map { String($0.prefix(20)) } ?? "greeting"
        let limit = try limits.next(name)
        let promise = channel.eventLoop.makePromise(of: SMTPReply.self)
        let timeout: Scheduled<Void>?
        let watch: RepeatedTask?
        if limits.deadline == nil {
            timeout = channel.eventLoop.scheduleTask(in: .init(limit)) { channel.close(promise: nil) }
            watch = nil
        } else {
            let started = ContinuousClock.now
            timeout = nil
            watch = channel.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(20), delay: .milliseconds(20)) { task in
                if limits.expired(since: started) {
                    channel.close(promise: nil)
                    task.cancel()
                }
            }
        }
        // The timer stops on the event loop the moment the reply is in, so it cannot close the
        // connection between this reply and the next command; and a command written to a
        // connection already closed fails instead of waiting for ever.
        promise.futureResult.whenComplete { _ in
            timeout?.cancel()
            watch?.cancel()
        }
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { promise.fail($0) }
        channel.writeAndFlush(SMTPCommand(line: line, reply: promise), promise: written)
        do {
            let reply = try await promise.futureResult.get()
            timeout?.cancel()
            watch?.cancel()
            return reply
        } catch {
            timeout?.cancel()
            watch?.cancel()
            let timedOut = !channel.isActive
            throw SMTPError(kind: timedOut ? .timeout : .closed, command: name, code: nil, message: "\(error)")
        }
    }

    @discardableResult
    private func expect(_ code: Int, _ reply: SMTPReply, _ command: String, accepting: Set<Int> = []) throws(SMTPError) -> SMTPReply {
        guard reply.code == code || accepting.contains(reply.code) else {
            throw SMTPError(kind: .rejected, command: command, code: reply.code, message: reply.lines.joined(separator: " "))
        }
        return reply
    }
}

/// How long the next wait of an exchange may last: the per-command timeout, cut to what is left
/// before the deadline.
struct WaitLimits: Sendable {
    let perStep: Duration
    let deadline: (@Sendable () -> ContinuousClock.Instant)?

    func next(_ step: String) throws(SMTPError) -> Duration {
        guard let deadline else { return perStep }
        let left = deadline() - ContinuousClock.now
        guard left > .milliseconds(1) else {
            throw SMTPError(kind: .timeout, command: step, code: nil, message: "given up: the delivery's lease ends before a reply could come")
        }
        return min(perStep, left)
    }

    /// A wait that began at `started` has lasted the per-command timeout, or the deadline passed.
    func expired(since started: ContinuousClock.Instant) -> Bool {
        let now = ContinuousClock.now
        return now - started >= perStep || (deadline.map { now >= $0() } ?? false)
    }
}

/// A line to write and where its reply goes.
struct SMTPCommand: Sendable {
    var line: String?
    var reply: EventLoopPromise<SMTPReply>
}

/// Splits the byte stream into replies: "250-first\r\n250-more\r\n250 last\r\n" is one reply.
struct SMTPReplyDecoder: ByteToMessageDecoder {
    typealias InboundOut = SMTPReply

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        var view = buffer
        var lines: [String] = []
        while let newline = view.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - view.readerIndex + 1
            guard var line = view.readString(length: length) else { break }
            line = line.trimmingCharacters(in: .newlines)
            let separator = line.dropFirst(3).first
            lines.append(String(line.dropFirst(4)))
            if separator != "-" {
                guard let code = Int(line.prefix(3)) else { throw SMTPReplyDecodingError(line: line) }
                buffer = view
                context.fireChannelRead(wrapInboundOut(SMTPReply(code: code, lines: lines)))
                return .continue
            }
        }
        return .needMoreData
    }
}

struct SMTPReplyDecodingError: Error {
    var line: String
}

/// Matches replies to commands in order; fails what is waiting when the connection ends.
final class SMTPCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = SMTPReply
    typealias OutboundIn = SMTPCommand
    typealias OutboundOut = ByteBuffer

    private var waiting = CircularBuffer<EventLoopPromise<SMTPReply>>()
    private var early = CircularBuffer<SMTPReply>()

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let command = unwrapOutboundIn(data)
        if let reply = early.popFirst() {
            command.reply.succeed(reply)
        } else {
            waiting.append(command.reply)
        }
        guard let line = command.line else {
            promise?.succeed()
            return
        }
        context.write(wrapOutboundOut(context.channel.allocator.buffer(string: line + "\r\n")), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = unwrapInboundIn(data)
        if let promise = waiting.popFirst() { promise.succeed(reply) } else { early.append(reply) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        while let promise = waiting.popFirst() { promise.fail(ChannelError.ioOnClosedChannel) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        while let promise = waiting.popFirst() { promise.fail(error) }
        context.close(promise: nil)
    }
}
