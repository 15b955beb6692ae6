      ******************************************************************
      * MULTI-RECORD EXPORT LAYOUT (RECLN = 200): one header, then the
      * record-type specific data redefining one 160-byte area.
      ******************************************************************
       01  EXPORT-RECORD.
           05  EXPORT-REC-TYPE                  PIC X(1).
           05  EXPORT-TIMESTAMP                 PIC X(26).
           05  EXPORT-TIMESTAMP-R REDEFINES EXPORT-TIMESTAMP.
               10  EXPORT-DATE                  PIC X(10).
               10  EXPORT-DATE-TIME-SEP         PIC X(1).
               10  EXPORT-TIME                  PIC X(15).
           05  EXPORT-SEQUENCE-NUM              PIC 9(9) COMP.
           05  EXPORT-BRANCH-ID                 PIC X(4).
           05  EXPORT-REGION-CODE               PIC X(5).
           05  EXPORT-RECORD-DATA               PIC X(160).
      * Customer data
           05  EXPORT-CUSTOMER-DATA REDEFINES EXPORT-RECORD-DATA.
               10  EXP-CUST-ID                  PIC 9(09) COMP.
               10  EXP-CUST-NAME                PIC X(25).
               10  EXP-CUST-ADDR-LINES OCCURS 2 TIMES.
                   15  EXP-CUST-ADDR-LINE       PIC X(30).
               10  EXP-CUST-PHONE-NUMS OCCURS 2 TIMES.
                   15  EXP-CUST-PHONE-NUM       PIC X(15).
               10  EXP-CUST-FICO-SCORE          PIC 9(03) COMP-3.
               10  FILLER                       PIC X(39).
      * Account data
           05  EXPORT-ACCOUNT-DATA REDEFINES EXPORT-RECORD-DATA.
               10  EXP-ACCT-ID                  PIC 9(11).
               10  EXP-ACCT-ACTIVE-STATUS       PIC X(01).
               10  EXP-ACCT-CURR-BAL            PIC S9(10)V99 COMP-3.
               10  EXP-ACCT-CREDIT-LIMIT        PIC S9(10)V99.
               10  EXP-ACCT-CYC-DEBIT           PIC S9(10)V99 COMP.
               10  FILLER                       PIC X(121).
      * Transaction data
           05  EXPORT-TRANSACTION-DATA REDEFINES EXPORT-RECORD-DATA.
               10  EXP-TRAN-ID                  PIC X(16).
               10  EXP-TRAN-CAT-CD              PIC 9(04).
               10  EXP-TRAN-DESC                PIC X(60).
               10  EXP-TRAN-AMT                 PIC S9(09)V99 COMP-3.
               10  EXP-TRAN-MERCHANT-ID         PIC 9(09) COMP.
               10  FILLER                       PIC X(70).
