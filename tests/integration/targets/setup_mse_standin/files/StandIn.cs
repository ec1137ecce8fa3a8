// A stand-in for the Mimecast Synchronization Engine service in integration tests: a Windows
// service that starts, runs and stops when asked, and does nothing else. Starting it as an
// account proves that account's password and "Log on as a service" right, which is what the
// tests need. Built on the test host with the .NET Framework compiler that ships with Windows.
using System.ServiceProcess;

public class StandInService : ServiceBase
{
    public StandInService()
    {
        ServiceName = "msesrv";
        AutoLog = false;  // an unprivileged account cannot create an event log source
    }

    public static void Main()
    {
        ServiceBase.Run(new StandInService());
    }
}
