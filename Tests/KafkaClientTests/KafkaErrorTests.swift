import CRdKafka
import Testing

@testable import KafkaClient

/// How librdkafka's codes are read: what is the record's fault, the producer's, or the network's.
@Suite("Kafka errors, without a server")
struct KafkaErrorTests {
    @Test("a producer the broker fenced is done (fatal), whatever record it was sending")
    func fenced() {
        for code in [RD_KAFKA_RESP_ERR_PRODUCER_FENCED, RD_KAFKA_RESP_ERR__FENCED, RD_KAFKA_RESP_ERR__FATAL] {
            let error = KafkaError(code, context: "delivering to t")
            #expect(error.kind == .fatal, "\(error)")
            #expect(!error.isPermanent, "the record itself was not refused: \(error)")
        }
    }

    @Test("a record too large or invalid is refused for good; unavailability is not the record's fault")
    func recordAndNetwork() {
        #expect(KafkaError(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, context: "x").kind == .recordRejected)
        #expect(KafkaError(RD_KAFKA_RESP_ERR_INVALID_RECORD, context: "x").isPermanent)
        #expect(KafkaError(RD_KAFKA_RESP_ERR__TRANSPORT, context: "x").kind == .unavailable)
        #expect(KafkaError(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, context: "x").kind == .messageTimedOut)
        #expect(KafkaError(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, context: "x").kind == .unknownTopic)
    }
}
