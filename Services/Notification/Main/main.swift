import NotificationService
import ServiceRuntime

await ServiceCommand<NotificationService>.runMain()
