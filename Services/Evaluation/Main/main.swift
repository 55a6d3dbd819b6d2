import EvaluationService
import ServiceRuntime

await ServiceCommand<EvaluationService>.runMain()
