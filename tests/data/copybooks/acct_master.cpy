000100******************************************************************ACCTMSTR
000200* ACCOUNT MASTER RECORD  (RECLN = 120)                            ACCTMSTR
000300* Sequence numbers in columns 1-6, a tag in columns 73-80.        ACCTMSTR
000400******************************************************************ACCTMSTR
000500 01  ACCT-MASTER-REC.                                             ACCTMSTR
000600     05  ACCT-KEY.                                                ACCTMSTR
000700         10  ACCT-BRANCH          PIC 9(04).                      ACCTMSTR
000800         10  ACCT-NUMBER          PIC 9(10).                      ACCTMSTR
000900     05  ACCT-STATUS              PIC X(01).                      ACCTMSTR
001000         88  ACCT-OPEN            VALUE 'O'.                      ACCTMSTR
001100         88  ACCT-CLOSED          VALUE 'C'.                      ACCTMSTR
001200         88  ACCT-DORMANT         VALUES ARE 'D' 'X'              ACCTMSTR
001300                                  'Z'.                            ACCTMSTR
001400     05  ACCT-HOLDER-NAME         PIC X(30).                      ACCTMSTR
001500     05  ACCT-BALANCE             PIC S9(11)V99 COMP-3.           ACCTMSTR
001600     05  ACCT-CREDIT-LIMIT        PIC S9(09)V99 COMP-3            ACCTMSTR
001700                                  VALUE ZERO.                     ACCTMSTR
001800     05  ACCT-OPEN-DATE.                                          ACCTMSTR
001900         10  ACCT-OPEN-YYYY       PIC 9(04).                      ACCTMSTR
002000         10  ACCT-OPEN-MM         PIC 9(02).                      ACCTMSTR
002100         10  ACCT-OPEN-DD         PIC 9(02).                      ACCTMSTR
002200     05  ACCT-INTEREST-RATE       PIC SV9(05) COMP-3.             ACCTMSTR
002300     05  ACCT-CYCLE-CREDIT        PIC S9(09)V99.                  ACCTMSTR
002400     05  ACCT-CYCLE-DEBIT         PIC S9(09)V99                   ACCTMSTR
002500                                  SIGN IS LEADING SEPARATE.       ACCTMSTR
002600     05  ACCT-TXN-COUNT           PIC S9(07) COMP.                ACCTMSTR
002700     05  ACCT-GROUP-ID            PIC X(10).                      ACCTMSTR
002800     05  FILLER                   PIC X(14).                      ACCTMSTR
