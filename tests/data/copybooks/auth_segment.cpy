      *****************************************************************
      *   PENDING AUTHORISATION DETAIL - A DATABASE SEGMENT FRAGMENT
      *   (no 01 level: the program supplies it with COPY ... ).
      *****************************************************************
           05  AUTH-KEY.
               10 AUTH-DATE-9C           PIC S9(05) COMP-3.
               10 AUTH-TIME-9C           PIC S9(09) COMP-3.
           05  AUTH-CARD-NUM             PIC  X(16).
           05  AUTH-TYPE                 PIC  X(04).
           05  AUTH-RESP-CODE            PIC  X(02).
               88 AUTH-APPROVED          VALUE '00'.
           05  AUTH-PROCESSING-CODE      PIC  9(06).
           05  AUTH-TRANSACTION-AMT      PIC S9(10)V99 COMP-3.
           05  AUTH-APPROVED-AMT         PIC S9(10)V99 COMP-3.
           05  AUTH-POS-ENTRY-MODE       PIC  9(02).
           05  AUTH-MERCHANT-NAME        PIC  X(22).
           05  AUTH-MATCH-STATUS         PIC  X(01).
               88 AUTH-MATCH-PENDING     VALUE 'P'.
               88 AUTH-MATCHED           VALUE 'M'.
           05  FILLER                    PIC  X(09).
