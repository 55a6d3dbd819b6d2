import CRdKafka
import Foundation
import Logging
import Synchronization

/// librdkafka's version, checked once per process before any client is made.
public enum KafkaLibrary {
    /// 2.1.0: older releases (Debian 12 ships 2.0.2) mis-parse the ApiVersions tagged fields
    /// current brokers send.
    public static let minimumVersion: Int32 = 0x0201_0000

    public static var versionString: String { String(cString: rd_kafka_version_str()) }

    private static let checked = Atomic<Bool>(false)

    public static func verify(logger: Logger) throws {
        let version = rd_kafka_version()
        guard version >= minimumVersion else {
            throw KafkaError(
                kind: .unsupportedLibraryVersion,
                message: "librdkafka \(versionString) is too old: Passerelle needs 2.1 or newer (deploy/local/install.sh builds one into /usr/local)",
                context: "checking the librdkafka version")
        }
        if !checked.exchange(true, ordering: .relaxed) {
            logger.info("using librdkafka", metadata: ["librdkafka_version": "\(versionString)"])
        }
    }
}

/// What librdkafka's C callbacks reach through the single opaque pointer of a client. It is
/// retained for the whole life of the `rd_kafka_t` and released after `rd_kafka_destroy`.
final class RDCallbackContext: Sendable {
    let logger: Logger
    /// Set by consumers; runs on the poll thread inside `rd_kafka_consumer_poll`.
    let rebalance: (@Sendable (OpaquePointer, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> Void)?
    /// Set by consumers; gets librdkafka's statistics JSON, on the poll thread.
    let statistics: (@Sendable (UnsafeRawBufferPointer) -> Void)?

    init(
        logger: Logger, rebalance: (@Sendable (OpaquePointer, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> Void)? = nil,
        statistics: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil
    ) {
        self.logger = logger
        self.rebalance = rebalance
        self.statistics = statistics
    }

    static func from(_ client: OpaquePointer?) -> RDCallbackContext? {
        guard let client, let opaque = rd_kafka_opaque(client) else { return nil }
        return Unmanaged<RDCallbackContext>.fromOpaque(opaque).takeUnretainedValue()
    }
}

/// An `rd_kafka_t`. librdkafka documents the handle as thread-safe for the calls made on it
/// here (produce, poll, store offsets, metadata); which thread calls what is decided by the
/// producer and consumer types, and `destroy` happens once, after every other use.
final class RDClient: @unchecked Sendable {
    let pointer: OpaquePointer
    private let context: Unmanaged<RDCallbackContext>

    init(type: rd_kafka_type_t, properties: [String: String], context: RDCallbackContext, configure: (OpaquePointer) -> Void = { _ in }) throws {
        try KafkaLibrary.verify(logger: context.logger)
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(kind: .configuration, message: "rd_kafka_conf_new failed", context: "creating a client")
        }
        var errorText = [CChar](repeating: 0, count: 512)
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            if rd_kafka_conf_set(conf, key, value, &errorText, errorText.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)  // still ours until rd_kafka_new succeeds
                throw KafkaError(kind: .configuration, message: text(of: errorText), context: "setting \(key)")
            }
        }
        let retained = Unmanaged.passRetained(context)
        rd_kafka_conf_set_opaque(conf, retained.toOpaque())
        rd_kafka_conf_set_log_cb(conf, rdLogCallback)
        rd_kafka_conf_set_error_cb(conf, rdErrorCallback)
        configure(conf)
        guard let client = rd_kafka_new(type, conf, &errorText, errorText.count) else {
            rd_kafka_conf_destroy(conf)
            retained.release()
            throw KafkaError(kind: .configuration, message: text(of: errorText), context: "creating a client")
        }
        self.pointer = client
        self.context = retained
    }

    /// Blocking; call from a dedicated thread once nothing else uses the handle.
    /// `skippingConsumerClose`: a consumer goes without revoking, committing or leaving its
    /// group (librdkafka's `RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE`), for one whose group
    /// session is already gone.
    func destroy(skippingConsumerClose: Bool = false) {
        if skippingConsumerClose {
            rd_kafka_destroy_flags(pointer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE)
        } else {
            rd_kafka_destroy(pointer)
        }
        context.release()
    }

    /// `destroy` on a thread of its own, for clients whose callers need not wait:
    /// `rd_kafka_destroy` often waits a whole second for its broker threads to notice.
    func destroyInBackground(skippingConsumerClose: Bool = false) {
        let thread = Thread { self.destroy(skippingConsumerClose: skippingConsumerClose) }
        thread.name = "kafka-destroy"
        thread.start()
    }

    /// The broker list, asked with a timeout; blocking, so callers run it off the pool.
    func fetchBrokerCount(timeoutMilliseconds: Int32) -> Result<Int, KafkaError> {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let error = rd_kafka_metadata(pointer, 0, nil, &metadata, timeoutMilliseconds)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            return .failure(KafkaError(error, context: "asking the cluster for metadata"))
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        return .success(Int(metadata.pointee.broker_cnt))
    }

    var fatalError: KafkaError? {
        var reason = [CChar](repeating: 0, count: 512)
        let code = rd_kafka_fatal_error(pointer, &reason, reason.count)
        guard code != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return KafkaError(kind: .fatal, code: code.rawValue, message: text(of: reason), context: "using the client")
    }
}

/// Runs blocking librdkafka calls on a dedicated thread and resumes the caller after.
func runBlocking<T: Sendable>(_ name: String, _ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.name = name
        thread.start()
    }
}

private let rdLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = { client, level, facility, message in
    guard let context = RDCallbackContext.from(client) else { return }
    let text = message.map { String(cString: $0) } ?? ""
    let metadata: Logger.Metadata = ["facility": "\(facility.map { String(cString: $0) } ?? "")", "source": "librdkafka"]
    switch level {
    case ...3: context.logger.error("\(text)", metadata: metadata)
    case 4: context.logger.warning("\(text)", metadata: metadata)
    case 5, 6: context.logger.info("\(text)", metadata: metadata)
    default: context.logger.debug("\(text)", metadata: metadata)
    }
}

private let rdErrorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = { client, code, reason, _ in
    guard let context = RDCallbackContext.from(client) else { return }
    let error = rd_kafka_resp_err_t(rawValue: code)
    // Transport errors are routine while a broker restarts; librdkafka reconnects by itself.
    let routine = error == RD_KAFKA_RESP_ERR__TRANSPORT || error == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN
    let text = reason.map { String(cString: $0) } ?? ""
    if routine {
        context.logger.info("Kafka connection problem: \(text)", metadata: ["source": "librdkafka"])
    } else {
        context.logger.error("Kafka error: \(text)", metadata: ["source": "librdkafka", "code": "\(code)"])
    }
}
