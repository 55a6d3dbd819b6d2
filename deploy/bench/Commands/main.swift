import ArgumentParser

/// Data makers and timers the benchmark suites (deploy/bench/suites) run. Kept out of the
/// services' executables: nothing here belongs in a deployment.
struct BenchmarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passerelle-bench",
        abstract: "Benchmark helpers: synthetic catalogues, referrals and pathways, and in-memory ranking times.",
        subcommands: [RankCommand.self, MatchingFeedCommand.self, EvaluationSeedCommand.self])
}

// Top-level code cannot rely on `AsyncParsableCommand.main()` picking the async entry point,
// so dispatch explicitly (as ServiceCommand.runMain does).
do {
    var command = try BenchmarkCommand.parseAsRoot()
    if var asynchronous = command as? any AsyncParsableCommand {
        try await asynchronous.run()
    } else {
        try command.run()
    }
} catch {
    BenchmarkCommand.exit(withError: error)
}
