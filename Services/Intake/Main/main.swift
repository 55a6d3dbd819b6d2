import IntakeService
import ServiceRuntime

await ServiceCommand<IntakeService>.runMain()
