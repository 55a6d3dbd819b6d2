import MatchingService
import ServiceRuntime

await ServiceCommand<MatchingService>.runMain()
