import CRdKafka

/// A librdkafka failure with its error code and what we were doing.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case configuration
        case unsupportedLibraryVersion
        /// Broker unreachable, timed out, or not ready: worth retrying later.
        case unavailable
        case messageTimedOut
        case unknownTopic
        /// The record itself is refused (too large for `message.max.bytes`, invalid): sending
        /// it again cannot succeed.
        case recordRejected
        /// Not sent because an earlier record of the same key in the same call was refused:
        /// sending it would have put it ahead of that record.
        case heldBehindRefusal
        /// The client can no longer be used; the process should restart it.
        case fatal
        case closed
        case other
    }

    public var kind: Kind
    public var code: Int32?
    public var message: String
    public var context: String

    public init(kind: Kind, code: Int32? = nil, message: String, context: String) {
        self.kind = kind
        self.code = code
        self.message = message
        self.context = context
    }

    init(_ code: rd_kafka_resp_err_t, context: String, fatal: Bool = false) {
        let kind: Kind
        switch code {
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT: kind = .messageTimedOut
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART: kind = .unknownTopic
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__TIMED_OUT,
            RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
            kind = .unavailable
        // The broker no longer accepts this producer's id and epoch: every later record would be
        // refused the same way, whatever it holds, and a new producer (a new id) is the remedy.
        case RD_KAFKA_RESP_ERR__FATAL, RD_KAFKA_RESP_ERR__FENCED, RD_KAFKA_RESP_ERR_PRODUCER_FENCED: kind = .fatal
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, RD_KAFKA_RESP_ERR_INVALID_RECORD:
            kind = .recordRejected
        default: kind = fatal ? .fatal : .other
        }
        self.init(kind: kind, code: code.rawValue, message: String(cString: rd_kafka_err2str(code)), context: context)
    }

    /// Sending the same record again cannot succeed.
    public var isPermanent: Bool { kind == .recordRejected }

    public var description: String {
        "Kafka \(kind)\(code.map { " [\($0)]" } ?? ""): \(message) while \(context)"
    }
}
