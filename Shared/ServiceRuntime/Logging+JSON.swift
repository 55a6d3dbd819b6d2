import Foundation
import Logging
import Metrics
import Prometheus
import Synchronization

/// One JSON object per line on stdout: what log collectors expect from a container.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String

    public init(label: String) {
        self.label = label
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var object: [String: String] = [
            "time": Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)),
            "level": event.level.rawValue,
            "logger": label,
            "message": "\(event.message)",
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for (key, value) in merged where object[key] == nil {
            object[key] = "\(value)"
        }
        guard var line = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        line.append(0x0A)
        FileHandle.standardOutput.write(line)
    }
}

/// Process-wide logging and metrics, set up once (both systems may be bootstrapped only once
/// per process, and tests run several services in one).
public enum Observability {
    private static let bootstrapped = Atomic<Bool>(false)
    /// The registry `/metrics` renders.
    public static let registry = PrometheusCollectorRegistry()

    public static func bootstrap(logLevel: Logger.Level, json: Bool = true) {
        guard !bootstrapped.exchange(true, ordering: .relaxed) else { return }
        if json {
            LoggingSystem.bootstrap { label in
                var handler = JSONLogHandler(label: label)
                handler.logLevel = logLevel
                return handler
            }
        }
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    public static func prometheusText() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
