"""Built-in data for `aiops demo`: a small MSP client with history, KB and hosts to draw on.

The new requests echo problems solved before, mention hosts from the inventory and match
KB articles, so every kind of context shows up in the notes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiops.events import Ticket
from warehouse.knowledge import Article, Host

TENANT_ID = "demo"
DISPLAY_NAME = "Demo MSP (client: Northwind Dental Group)"

_T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


def _resolved(
    number: int,
    subject: str,
    description: str,
    resolution: str,
    category: str,
    priority: str,
    days: int,
) -> Ticket:
    created = _T0 + timedelta(days=days)
    return Ticket(
        id=f"DEMO-H{number:03d}",
        subject=subject,
        description=description,
        resolution=resolution,
        category=category,
        priority=priority,
        status="Resolved",
        created_at=created,
        resolved_at=created + timedelta(hours=3),
    )


HISTORY: tuple[Ticket, ...] = (
    _resolved(
        1,
        "Outlook keeps prompting for password after mailbox migration",
        "Since the move to Exchange Online on Saturday, Outlook on my PC asks for my password "
        "every few minutes. Webmail works fine.",
        "Cached credentials from the on-premises Exchange were still in Credential Manager. "
        "Removed all MicrosoftOffice16 entries, deleted and re-created the Outlook profile, and "
        "confirmed modern authentication is on (no AlwaysUseMSOAuthForAutoDiscover override). "
        "See KB-101.",
        "Email",
        "High",
        0,
    ),
    _resolved(
        2,
        "User account locked out repeatedly after password change",
        "My account keeps getting locked, I changed my password yesterday. Unlocked twice by "
        "reception already.",
        "Security log on DC01 showed event 4740 with caller computer = the user's iPhone via "
        "ActiveSync. The phone still had the old password in the mail app. Removed and re-added "
        "the account on the phone; no lockouts since. See KB-102.",
        "Active Directory",
        "High",
        2,
    ),
    _resolved(
        3,
        "Second floor printer PRN-2F-01 offline for everyone",
        "Nobody on the second floor can print, the printer shows offline and jobs pile up.",
        "Print Spooler on PRINT01 had hung on a corrupt job. Stopped the spooler, cleared "
        "C:\\Windows\\System32\\spool\\PRINTERS, started the spooler and set the service "
        "recovery to restart on failure. See KB-103.",
        "Printing",
        "Medium",
        5,
    ),
    _resolved(
        4,
        "Disk space alert: C: on SQL01 below 5%",
        "Monitoring alert: SQL01 (10.20.1.20) C: drive 4% free.",
        "The PracticeDB transaction log had grown to 60 GB because the nightly backup job had "
        "failed for a week (expired service account password). Fixed the job's credentials, "
        "took a log backup, shrank the log file and scheduled log backups every 15 minutes. "
        "See KB-104.",
        "Server",
        "High",
        9,
    ),
    _resolved(
        5,
        "VPN connects but cannot reach file server FS01",
        "Working from home: FortiClient says connected but \\\\FS01\\Shared does not open.",
        "The VPN profile's split-tunnel list lacked the server subnet 10.20.1.0/24. Added it on "
        "FW01 and pushed the updated FortiClient profile; reconnecting fixed it. See KB-105.",
        "Network",
        "Medium",
        12,
    ),
    _resolved(
        6,
        "Access denied to \\\\FS01\\Finance share",
        "New finance assistant cannot open the Finance share, error: access denied.",
        "User was not in GRP-Finance-RW. Added her to the group; she logged off and on again to "
        "refresh her Kerberos token.",
        "File shares",
        "Medium",
        15,
    ),
    _resolved(
        7,
        "Teams calls drop after about 30 seconds",
        "Every Teams call in the Leeds office drops after roughly half a minute.",
        "FW01 blocked outbound UDP 3478-3481 for the Leeds VLAN after a policy change. Added the "
        "Microsoft Teams media ports to the outbound policy.",
        "Network",
        "High",
        18,
    ),
    _resolved(
        8,
        "Nightly backup of FS01 failed with VSS error",
        "Backup report: FS01 job failed, 'VSS snapshot could not be created'.",
        "The VSS writer 'System Writer' was in a failed state. Restarted the Cryptographic "
        "Services and Volume Shadow Copy services, raised the shadow storage limit to 10% and "
        "re-ran the job successfully.",
        "Backup",
        "High",
        21,
    ),
)

KB: tuple[Article, ...] = (
    Article(
        "KB-101",
        "Outlook password prompts after a migration to Exchange Online",
        "Symptoms: Outlook asks for credentials repeatedly; webmail works. Fix: 1) close "
        "Outlook; 2) Control Panel > Credential Manager > Windows Credentials: remove every "
        "MicrosoftOffice16 and Outlook entry; 3) create a new Outlook profile; 4) check that "
        "modern authentication is enabled for the tenant.",
        "https://kb.demo-msp.example/101",
        ("outlook", "exchange online", "password"),
    ),
    Article(
        "KB-102",
        "Finding the source of repeated Active Directory account lockouts",
        "On the PDC emulator (DC01) search the Security log for event 4740; 'Caller Computer "
        "Name' names the device sending the old password. Usual culprits: phones (ActiveSync), "
        "mapped drives with saved credentials, scheduled tasks, RDP sessions left open.",
        "https://kb.demo-msp.example/102",
        ("active directory", "lockout", "4740"),
    ),
    Article(
        "KB-103",
        "Clearing a stuck print queue on PRINT01",
        "Stop the Print Spooler service, delete the files in "
        "C:\\Windows\\System32\\spool\\PRINTERS, start the spooler. If printers still show "
        "offline, check the printer's IP answers ping and SNMP status is not blocking.",
        "https://kb.demo-msp.example/103",
        ("printing", "spooler"),
    ),
    Article(
        "KB-104",
        "SQL Server disk full: transaction log growth",
        "Check log_reuse_wait_desc in sys.databases. LOG_BACKUP means log backups are not "
        "running: fix the backup job, take a log backup, then shrink the log file once. Never "
        "switch a production database to SIMPLE recovery without the client's approval.",
        "https://kb.demo-msp.example/104",
        ("sql server", "disk space", "transaction log"),
    ),
    Article(
        "KB-105",
        "FortiClient VPN: split-tunnel routes",
        "Users connect but cannot reach internal servers: the subnet is missing from the "
        "split-tunnel address group on FW01. Add it, then users must disconnect and reconnect.",
        "https://kb.demo-msp.example/105",
        ("vpn", "forticlient", "fortigate"),
    ),
)

HOSTS: tuple[Host, ...] = (
    Host(
        "dc01.northwind.local",
        "10.20.1.10",
        "domain controller",
        "Windows Server 2022",
        "HQ server room",
        "IT",
        {"roles": "AD DS, DNS, DHCP, PDC emulator"},
    ),
    Host(
        "fs01.northwind.local",
        "10.20.1.15",
        "file server",
        "Windows Server 2019",
        "HQ server room",
        "IT",
        {"shares": "Shared, Finance, Scans"},
    ),
    Host(
        "sql01.northwind.local",
        "10.20.1.20",
        "database server",
        "Windows Server 2019",
        "HQ server room",
        "IT",
        {"sql": "SQL Server 2019 Standard", "databases": "PracticeDB"},
    ),
    Host(
        "print01.northwind.local",
        "10.20.1.25",
        "print server",
        "Windows Server 2022",
        "HQ server room",
        "IT",
    ),
    Host(
        "fw01",
        "10.20.0.1",
        "firewall",
        "FortiOS 7.2",
        "HQ comms cabinet",
        "IT",
        {"model": "FortiGate 60F"},
    ),
    Host(
        "prn-2f-01",
        "10.20.2.50",
        "printer",
        None,
        "HQ 2nd floor",
        "Facilities",
        {"model": "HP LaserJet Enterprise M507"},
    ),
)

_NEW: tuple[tuple[str, str, str, str, str, str], ...] = (
    # subject, description (SDP sends HTML), priority, category, requester, email
    (
        "Outlook asks for my password every few minutes",
        "<div>Hi, since this morning Outlook keeps popping up a password box. I type my "
        "password and it comes back 5 minutes later. Teams and webmail are fine.</div>",
        "High",
        "Email",
        "Emma Clarke",
        "emma.clarke@northwind-dental.example",
    ),
    (
        "Locked out of my account again",
        "<div>This is the third time today my account is locked. I changed my password on "
        "Monday because it expired. I also read email on my iPad.</div>",
        "High",
        "Active Directory",
        "Raj Patel",
        "raj.patel@northwind-dental.example",
    ),
    (
        "Printer on the 2nd floor says offline",
        "<div>PRN-2F-01 shows as offline on every PC on our floor, my print jobs are stuck "
        "in the queue.</div>",
        "Medium",
        "Printing",
        "Sophie Turner",
        "sophie.turner@northwind-dental.example",
    ),
    (
        "ALERT: SQL01 C: drive 3% free",
        "<div>Monitoring: host sql01 (10.20.1.20) volume C: free space 3% (threshold 10%). "
        "Growing about 2 GB per hour.</div>",
        "Urgent",
        "Server",
        "Monitoring",
        "alerts@demo-msp.example",
    ),
    (
        "Can't open the Finance folder from home",
        "<div>I'm connected to the VPN but \\\\FS01\\Finance won't open, it just spins and "
        "then says the network path was not found.</div>",
        "Medium",
        "Network",
        "Liam Hughes",
        "liam.hughes@northwind-dental.example",
    ),
)


def new_requests(now: datetime) -> list[dict[str, Any]]:
    """SDP v3 request objects as a custom trigger sends them; ids are new on every run."""
    millis = int(now.timestamp() * 1000)
    requests = []
    for number, (subject, description, priority, category, name, email) in enumerate(_NEW):
        created = millis + number
        requests.append(
            {
                "id": str(created),
                "display_id": f"DEMO-{created % 100_000:05d}",
                "subject": subject,
                "description": description,
                "priority": {"name": priority},
                "status": {"name": "Open"},
                "category": {"name": category},
                "requester": {"name": name, "email_id": email},
                "site": {"name": "HQ"},
                "group": {"name": "Service Desk"},
                "created_time": {
                    "value": str(created),
                    "display_value": f"{now:%b %d, %Y %I:%M %p}",
                },
            }
        )
    return requests
