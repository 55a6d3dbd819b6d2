import Foundation
import TestSupport
import Testing

/// The deployment files (compose, Dockerfile, kustomize, .env.example, topic and role lists)
/// checked against each other and the code; no Docker engine is needed. The checks live in
/// check_deployment.py next to this file.
@Suite("Deployment files")
struct DeploymentTests {
    @Test("docker-compose.yml, the Dockerfile, Kubernetes manifests and .env.example agree with the code")
    func deploymentChecks() async throws {
        var root = URL(fileURLWithPath: #filePath)
        while !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) { root.deleteLastPathComponent() }
        let (status, output) = try await ChildProcess.run(["python3", root.appendingPathComponent("Tests/DeploymentTests/check_deployment.py").path, root.path])
        #expect(status == 0, "\(output)")
        #expect(output.contains(" 0 failed"), "\(output)")
    }
}
